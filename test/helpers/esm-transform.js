/**
 * A Jest transform for the ES-module-only packages the server loads (hyparquet-writer, and
 * hyparquet in tests): Node 20 requires them natively (require(esm)), Jest's own module loader
 * does not, so their import/export statements are rewritten to CommonJS with sucrase (already a
 * dependency: knex's TypeScript loader).
 */
const { transform } = require('sucrase');

module.exports = {
  process(source, filename) {
    return { code: transform(source, { transforms: ['imports'], filePath: filename }).code };
  },
};
