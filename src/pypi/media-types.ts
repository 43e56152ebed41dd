/** PEP 691 media types, in one place. */
export const TEXT_HTML = 'text/html';
export const SIMPLE_V1_HTML = 'application/vnd.pypi.simple.v1+html';
export const SIMPLE_V1_JSON = 'application/vnd.pypi.simple.v1+json';
export const SIMPLE_LATEST_HTML = 'application/vnd.pypi.simple.latest+html';
export const SIMPLE_LATEST_JSON = 'application/vnd.pypi.simple.latest+json';

/** The Simple API version pydepot's pages conform to (1.1 = PEP 700 fields). */
export const API_VERSION = '1.1';
/** Pages that pass an upstream's PEP 792 project status through. */
export const API_VERSION_WITH_STATUS = '1.4';

export type IndexFormat = 'html' | 'json';
