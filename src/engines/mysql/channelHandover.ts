import { Duplex } from "node:stream";
import type { RemoteChannel } from "../../ssh/SSHClient";

/**
 * The SSH-forwarded channel as `mysql2` sees it, until `takeOver()`: from then on the channel's
 * bytes no longer reach `mysql2`, and whoever took it over reads the connection's answers
 * directly (a large result set is converted without mysql2's value per cell). `mysql2` does
 * the login, so the service never implements MySQL's authentication itself.
 */
export class ChannelHandover extends Duplex {
  private taken = false;
  private channelClosed = false;

  constructor(private readonly channel: RemoteChannel) {
    super();
    channel.on("data", (chunk: Buffer) => {
      if (!this.taken && !this.push(chunk)) channel.pause();
    });
    channel.on("end", () => {
      if (!this.taken) this.push(null);
    });
    channel.on("close", () => {
      this.channelClosed = true;
      this.destroy();
    });
    channel.on("error", (error: Error) => this.destroy(error));
  }

  /** Only while nothing is pending in `mysql2` (no query running): the channel, now for the caller alone. */
  takeOver(): RemoteChannel {
    this.taken = true;
    return this.channel;
  }

  override _read(): void {
    if (!this.taken) this.channel.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    if (this.taken) done();
    else this.channel.write(chunk, () => done());
  }

  override _final(done: (error?: Error | null) => void): void {
    this.channel.end();
    done();
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    if (!this.channelClosed) this.channel.close();
    done(error);
  }
}
