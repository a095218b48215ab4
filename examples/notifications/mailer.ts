/** A stand-in mail sender for the example: it logs instead of sending. */

export interface Mail {
  to: string;
  subject: string;
  body: string;
}

export const sentMail: Mail[] = [];

export async function sendMail(mail: Mail, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  sentMail.push(mail);
  console.log(`[mail] to=${mail.to} subject=${JSON.stringify(mail.subject)}`);
}
