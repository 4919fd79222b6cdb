/**
 * Where webhooks may point (src/services/webhookHosts.ts): internal addresses only when listed,
 * the allowed-hosts list when set, and the addresses a name resolves to checked on delivery.
 */
import { WebhookHostPolicy, isInternalAddress } from '../../src/services/webhookHosts';

test.each([
  ['127.0.0.1', true],
  ['127.8.9.10', true],
  ['10.0.0.7', true],
  ['172.16.0.1', true],
  ['172.32.0.1', false],
  ['192.168.1.1', true],
  ['169.254.169.254', true], // cloud metadata
  ['100.64.0.1', true],
  ['0.0.0.0', true],
  ['224.0.0.1', true],
  ['8.8.8.8', false],
  ['::1', true],
  ['::', true],
  ['fd00::1', true],
  ['fe80::1', true],
  ['::ffff:127.0.0.1', true],
  ['::ffff:8.8.8.8', false],
  ['::ffff:7f00:1', true], // 127.0.0.1, as the URL parser spells it
  ['0:0:0:0:0:ffff:a00:5', true], // 10.0.0.5
  ['::ffff:808:808', false], // 8.8.8.8
  ['2606:4700:4700::1111', false],
  ['not-an-address', true],
])('isInternalAddress(%s) is %s', (address, internal) => {
  expect(isInternalAddress(address)).toBe(internal);
});

describe('with no allowed hosts', () => {
  const policy = new WebhookHostPolicy([]);
  test.each([
    ['http://127.0.0.1:9000/x', /internal address/],
    ['http://localhost/x', /internal address/],
    ['http://[::1]/x', /internal address/],
    ['http://[::ffff:127.0.0.1]/x', /internal address/],
    ['http://169.254.169.254/latest/meta-data', /internal address/],
    ['file:///etc/passwd', /http or https/],
    ['gopher://example.com/', /http or https/],
  ])('refuses %s', (url, reason) => {
    expect(() => policy.check(url)).toThrow(reason);
  });

  test('any public host may be named; its resolved addresses are checked on delivery', () => {
    const url = policy.check('https://hooks.example.com/llmring');
    expect(policy.allowsAddress(url, '93.184.215.14')).toBe(true);
    // A name that resolves inward (DNS rebinding, an internal record) is refused when sending.
    expect(policy.allowsAddress(url, '10.0.0.5')).toBe(false);
    expect(policy.allowsAddress(url, '::ffff:127.0.0.1')).toBe(false);
  });
});

describe('with LLMRING_WEBHOOK_ALLOWED_HOSTS', () => {
  const policy = new WebhookHostPolicy(['127.0.0.1', 'receiver.internal', '*.example.com']);

  test('only listed hosts; a listed internal host is allowed, a wildcard never reaches inside', () => {
    expect(policy.check('http://127.0.0.1:8080/h').hostname).toBe('127.0.0.1');
    expect(() => policy.check('https://other.org/h')).toThrow(/not in LLMRING_WEBHOOK_ALLOWED_HOSTS/);
    const internal = policy.check('http://receiver.internal/h');
    expect(policy.allowsAddress(internal, '10.1.2.3')).toBe(true);
    const wild = policy.check('https://a.example.com/h');
    expect(policy.allowsAddress(wild, '93.184.215.14')).toBe(true);
    expect(policy.allowsAddress(wild, '192.168.0.10')).toBe(false);
    expect(() => policy.check('http://localhost/h')).toThrow(/not in LLMRING_WEBHOOK_ALLOWED_HOSTS/);
  });
});
