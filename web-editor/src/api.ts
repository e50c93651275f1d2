// The only way to the server: Connect-ES clients generated from proto/,
// over grpc-web on the page's own origin.
import { createClient, type Interceptor } from '@connectrpc/connect';
import { createGrpcWebTransport } from '@connectrpc/connect-web';
import { AppService } from './gen/gofast/v1/apps_pb';
import { AuthService } from './gen/gofast/v1/auth_pb';

export function clients(token: () => string | undefined) {
  const bearer: Interceptor = (next) => (req) => {
    const t = token();
    if (t) req.header.set('authorization', `Bearer ${t}`);
    return next(req);
  };
  const transport = createGrpcWebTransport({ baseUrl: location.origin, interceptors: [bearer] });
  return { auth: createClient(AuthService, transport), apps: createClient(AppService, transport) };
}

export type Clients = ReturnType<typeof clients>;
