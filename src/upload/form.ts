/**
 * The legacy upload API's form (what twine, poetry and uv POST), as the
 * HTTP layer hands it down: text fields, and the `content` file already in
 * temporary storage. Nothing HTTP-specific travels below this shape.
 */
import type { TempBlob } from '../storage/types.ts';

export interface UploadForm {
  fields: Map<string, string[]>;
  /** The `content` part; its temp blob is the receiver's to commit or discard. */
  content: { filename: string; temp: TempBlob } | null;
}
