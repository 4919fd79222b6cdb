/**
 * Items of an async iterable in arrays of at most `size`: the exports turn their rows into text
 * a chunk at a time. The next items are read only when the consumer asks for the next chunk,
 * so a slow output holds back the reads instead of letting rows pile up in memory.
 */
export async function* inChunks<T>(items: AsyncIterable<T>, size: number): AsyncGenerator<T[]> {
  let chunk: T[] = [];
  for await (const item of items) {
    chunk.push(item);
    if (chunk.length >= size) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}
