import { ConfigError, loadConfig } from "./config/env";
import { startServer } from "./server";
import { createJsonLogger } from "./shared/logger";

const logger = createJsonLogger();

try {
  const config = loadConfig(process.env);
  const server = await startServer(config, logger);
  const shutdown = (signal: string) => {
    logger.info("server.stopping", { signal });
    server.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`Configuration error: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
