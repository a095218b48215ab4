/** The example's own domain data (users, notifications), kept in memory for brevity. */

export interface User {
  id: string;
  email: string;
  name: string;
  createdAt: Date;
}

export interface Notification {
  id: string;
  userId: string;
  message: string;
  createdAt: Date;
}

export const db = {
  users: new Map<string, User>(),
  notifications: [] as Notification[],
};
