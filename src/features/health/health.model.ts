import { t } from "elysia";

/** The legacy liveness body monitoring and the portal read; `Timestamp` is capitalised on purpose. */
export const LivenessBody = t.Object(
  { status: t.Literal("success"), message: t.String(), Timestamp: t.String({ format: "date-time" }) },
  { description: "The process is up", examples: [{ status: "success", message: "Storage Layer of Zyotra is running", Timestamp: "2026-11-23T10:00:00.000Z" }] },
);

const CheckState = t.Union([t.Literal("up"), t.Literal("down")]);

export const ReadinessBody = t.Object(
  { status: t.Union([t.Literal("ready"), t.Literal("unavailable")]), checks: t.Record(t.String(), CheckState) },
  { description: "Whether the databases this service depends on answer", examples: [{ status: "ready", checks: { metadata: "up", registry: "up" } }] },
);
