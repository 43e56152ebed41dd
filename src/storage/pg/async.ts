/**
 * The store interfaces of types.ts with every method returning a Promise:
 * the shape a client/server database needs. The PostgreSQL stores implement
 * `Async<…>` of each interface, with the semantics documented there.
 */
export type Async<T> = { [K in keyof T]: T[K] extends (...a: infer A) => infer R ? (...a: A) => Promise<Awaited<R>> : T[K] };
