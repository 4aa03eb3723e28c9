// The image embeds the Echo definition as JSON; this keeps it equal to echo.proto, the file
// people read and other languages' clients compile.
import { fileURLToPath } from 'node:url';
import { loadSync, type MessageTypeDefinition, type PackageDefinition } from '@grpc/proto-loader';
import { describe, expect, it } from '@jest/globals';
import { ECHO_LOADER_OPTIONS, ECHO_SERVICE_NAME, loadEchoPackageDefinition } from './grpc-echo.ts';

const protoPath = fileURLToPath(new URL('../echo.proto', import.meta.url));

// The parts of a package definition that clients depend on: method paths and streaming flags,
// and each message's fields by name, number, type and label.
function shape(definition: PackageDefinition): unknown {
  const out: Record<string, unknown> = {};
  for (const [name, entry] of Object.entries(definition).sort(([a], [b]) => a.localeCompare(b))) {
    if (!name.startsWith('weft.')) continue;
    if ('format' in entry) {
      const type = (entry as MessageTypeDefinition<object, object>).type as {
        field: { name: string; number: number; type: string; label: string; typeName: string }[];
      };
      out[name] = type.field.map((f) => [f.name, f.number, f.type, f.label, f.typeName]);
    } else {
      out[name] = Object.entries(entry)
        .map(([method, d]) => {
          const m = d as { path: string; requestStream: boolean; responseStream: boolean };
          return [method, m.path, m.requestStream, m.responseStream];
        })
        .sort();
    }
  }
  return out;
}

describe('embedded Echo definition', () => {
  it('matches echo.proto', () => {
    const fromProto = loadSync(protoPath, ECHO_LOADER_OPTIONS);
    const embedded = loadEchoPackageDefinition();
    expect(shape(embedded)).toEqual(shape(fromProto));
    expect(Object.keys(embedded)).toContain(ECHO_SERVICE_NAME);
    expect((shape(embedded) as Record<string, unknown[]>)['weft.testapp.v1.EchoReply']).toHaveLength(4);
  });
});
