import type { Socket, TCPSocketListener } from "bun";

/**
 * A loopback TCP proxy in front of a real server, to cut a dependency off and bring it back
 * (an outage as the service experiences it) without stopping the shared server itself.
 */
export interface TcpProxy {
  port: number;
  /** Drops every open connection and refuses new ones. */
  cut(): void;
  restore(): void;
  stop(): void;
}

interface Pair {
  upstream?: Socket<Pair>;
  downstream?: Socket<Pair>;
  pending: Uint8Array[];
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  let cut = false;
  const open = new Set<Socket<Pair>>();
  const listener: TCPSocketListener<Pair> = Bun.listen<Pair>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      async open(client) {
        if (cut) {
          client.end();
          return;
        }
        client.data = { pending: [], downstream: client };
        open.add(client);
        const pair = client.data;
        try {
          pair.upstream = await Bun.connect<Pair>({
            hostname: targetHost,
            port: targetPort,
            data: pair,
            socket: {
              data(upstream, chunk) {
                upstream.data.downstream?.write(chunk);
              },
              close(upstream) {
                upstream.data.downstream?.end();
              },
              error(upstream) {
                upstream.data.downstream?.end();
              },
            },
          });
          open.add(pair.upstream);
          for (const chunk of pair.pending) pair.upstream.write(chunk);
          pair.pending = [];
        } catch {
          client.end();
        }
      },
      data(client, chunk) {
        if (client.data.upstream) client.data.upstream.write(chunk);
        else client.data.pending.push(new Uint8Array(chunk));
      },
      close(client) {
        client.data?.upstream?.end();
        open.delete(client);
      },
      error(client) {
        client.data?.upstream?.end();
      },
    },
  });
  return {
    port: listener.port,
    cut() {
      cut = true;
      for (const socket of open) socket.terminate();
      open.clear();
    },
    restore() {
      cut = false;
    },
    stop() {
      for (const socket of open) socket.terminate();
      listener.stop(true);
    },
  };
}
