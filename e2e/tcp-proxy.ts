import net from "node:net";

/** A TCP proxy the test can cut: `drop()` resets every open connection, `pause(true)` refuses new ones. */
export async function startTcpProxy(targetPort: number) {
  const sockets = new Set<net.Socket>();
  let refusing = false;
  /** The request line and headers of every HTTP request seen (keep-alive connections included). */
  const requests: string[] = [];
  const server = net.createServer((client) => {
    if (refusing) return void client.destroy();
    const upstream = net.connect(targetPort, "127.0.0.1");
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {});
    }
    client.on("data", (chunk: Buffer) => {
      for (const match of chunk.toString("latin1").matchAll(/(?:^|\r\n)((?:GET|POST|PUT|DELETE|HEAD|OPTIONS) \S+ HTTP\/1\.[01]\r\n[\s\S]*?)\r\n\r\n/g)) requests.push(match[1]!);
    });
    client.pipe(upstream);
    upstream.pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    requests,
    drop: () => sockets.forEach((socket) => socket.resetAndDestroy()),
    pause: (on: boolean) => (refusing = on),
    close: () => new Promise<void>((resolve) => (sockets.forEach((socket) => socket.destroy()), server.close(() => resolve()))),
  };
}
