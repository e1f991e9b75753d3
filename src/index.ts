import { ConfigError, loadConfig } from "./config/env";
import { startServer } from "./server";
import { createJsonLogger } from "./shared/logger";

const logger = createJsonLogger();

try {
  const config = loadConfig(process.env);
  const server = await startServer(config, logger);
  const shutdown = (signal: string) => {
    logger.info("server.stopping", { signal });
    server
      .stop()
      .then(() => logger.flush())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  // Last line of defence: a stray rejection is logged, never allowed to kill the service.
  process.on("unhandledRejection", (reason) => {
    logger.error("process.unhandled_rejection", { reason: reason instanceof Error ? reason.name : typeof reason });
  });
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`Configuration error: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
