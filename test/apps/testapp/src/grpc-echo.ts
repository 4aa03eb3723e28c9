// The Echo service definition, usable by the server and by test clients alike.
//
// The app ships as one bundled file, so echo.proto cannot be read at run time. Parsing proto text
// would need protobufjs itself, which this repository only has as an undeclared dependency of
// @grpc/proto-loader; instead the definition is embedded in protobufjs's JSON form, which
// proto-loader's fromJSON accepts. grpc-echo.test.ts proves it matches echo.proto.
import {
  type GrpcObject,
  loadPackageDefinition,
  type ServiceClientConstructor,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { fromJSON, type Options, type PackageDefinition } from '@grpc/proto-loader';

export const ECHO_PACKAGE = 'weft.testapp.v1';
export const ECHO_SERVICE_NAME = `${ECHO_PACKAGE}.Echo`;

// Field names are camelCase, as protobufjs names them when parsing echo.proto without keepCase.
// Typed loosely: protobufjs's INamespace typings demand optional fields (comment) and lack map fields.
export const ECHO_PROTO_JSON: Record<string, unknown> = {
  nested: {
    weft: {
      nested: {
        testapp: {
          nested: {
            v1: {
              nested: {
                Echo: {
                  methods: {
                    Unary: { requestType: 'EchoRequest', responseType: 'EchoReply' },
                    ServerStream: {
                      requestType: 'StreamRequest',
                      responseType: 'EchoReply',
                      responseStream: true,
                    },
                    ClientStream: {
                      requestType: 'EchoRequest',
                      responseType: 'EchoReply',
                      requestStream: true,
                    },
                    BidiStream: {
                      requestType: 'EchoRequest',
                      responseType: 'EchoReply',
                      requestStream: true,
                      responseStream: true,
                    },
                  },
                },
                EchoRequest: {
                  fields: {
                    message: { type: 'string', id: 1 },
                    statusCode: { type: 'int32', id: 2 },
                  },
                },
                StreamRequest: {
                  fields: {
                    message: { type: 'string', id: 1 },
                    count: { type: 'int32', id: 2 },
                    intervalMs: { type: 'int32', id: 3 },
                  },
                },
                EchoReply: {
                  fields: {
                    message: { type: 'string', id: 1 },
                    pod: { type: 'string', id: 2 },
                    metadata: { keyType: 'string', type: 'string', id: 3 },
                    sequence: { type: 'int32', id: 4 },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};

// defaults: true so an unset proto3 field reads as its zero value instead of undefined.
export const ECHO_LOADER_OPTIONS: Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

export interface EchoRequest {
  message: string;
  statusCode: number;
}

export interface StreamRequest {
  message: string;
  count: number;
  intervalMs: number;
}

export interface EchoReply {
  message: string;
  pod: string;
  metadata: Record<string, string>;
  sequence: number;
}

export interface EchoService {
  readonly packageDefinition: PackageDefinition;
  readonly service: ServiceDefinition;
  // Construct with (address, credentials); methods: Unary, ServerStream, ClientStream, BidiStream.
  readonly Client: ServiceClientConstructor;
}

export function loadEchoPackageDefinition(): PackageDefinition {
  return fromJSON(ECHO_PROTO_JSON as Parameters<typeof fromJSON>[0], ECHO_LOADER_OPTIONS);
}

export function loadEchoService(): EchoService {
  const packageDefinition = loadEchoPackageDefinition();
  let node: GrpcObject | ServiceClientConstructor | undefined = loadPackageDefinition(packageDefinition);
  for (const part of ECHO_SERVICE_NAME.split('.')) {
    node = (node as GrpcObject | undefined)?.[part] as GrpcObject | ServiceClientConstructor | undefined;
  }
  const Client = node as ServiceClientConstructor | undefined;
  if (typeof Client !== 'function') throw new Error(`${ECHO_SERVICE_NAME} missing from its own definition`);
  return { packageDefinition, service: Client.service, Client };
}
