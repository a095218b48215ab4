/**
 * The example's functions: the scenario of TickerQ's complete example. A welcome email five
 * minutes after registration (retried at 60/300/900 s), a daily digest at 9 AM and a cleanup
 * of old notifications at midnight.
 */

import { z } from "zod";
import { defineFunction } from "../../src/index.js";
import { sendMail } from "./mailer.js";
import { db } from "./app-data.js";

export const sendWelcomeEmail = defineFunction(
  "SendWelcomeEmail",
  {
    schema: z.object({ email: z.email(), name: z.string().min(1), userId: z.string() }),
    retries: 3,
    retryIntervals: [60, 300, 900],
    description: "Welcome email, 5 minutes after registration",
  },
  async (ctx, signal) => {
    const { email, name } = ctx.request;
    await sendMail({ to: email, subject: "Welcome!", body: `Hello ${name}, welcome to our platform!` }, signal);
  },
);

export const sendDailyDigest = defineFunction(
  "SendDailyDigest",
  { cron: "0 0 9 * * *", description: "Daily digest at 9 AM (UTC)" },
  async (ctx, signal) => {
    const since = ctx.scheduledFor.getTime() - 86_400_000;
    for (const user of db.users.values()) {
      const recent = db.notifications.filter((n) => n.userId === user.id && n.createdAt.getTime() >= since);
      if (recent.length === 0) continue;
      try {
        const lines = recent.map((n) => `- ${n.message}`).join("\n");
        await sendMail({ to: user.email, subject: "Daily Digest", body: `Your daily digest:\n${lines}` }, signal);
      } catch (error) {
        console.error(`digest for ${user.email} failed; continuing with the others`, error);
      }
    }
  },
);

export const cleanupOldNotifications = defineFunction(
  "CleanupOldNotifications",
  { cron: "0 0 0 * * *", description: "Delete notifications older than 30 days, at midnight" },
  async (ctx) => {
    const cutoff = ctx.scheduledFor.getTime() - 30 * 86_400_000;
    const before = db.notifications.length;
    db.notifications = db.notifications.filter((n) => n.createdAt.getTime() >= cutoff);
    console.log(`[cleanup] removed ${before - db.notifications.length} old notifications`);
  },
);

export const functions = [sendWelcomeEmail, sendDailyDigest, cleanupOldNotifications] as const;
