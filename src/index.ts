import { ConfigError, loadConfig } from "./config/env";
import { startServer } from "./server";
import { createJsonLogger } from "./shared/logger";
import { errorIdentity } from "./shared/errorIdentity";

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
  // Last line of defence: a stray throw or rejection is logged, never allowed to kill the service.
  // Only the error's name and code: a driver's message may hold a query's parameters.
  process.on("unhandledRejection", (reason) => logger.error("process.unhandled_rejection", errorIdentity(reason)));
  process.on("uncaughtException", (error) => logger.error("process.uncaught_exception", errorIdentity(error)));
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`Configuration error: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
