// Columns every table writes the same way. Not part of the barrel: a helper, not a table.
import { timestamp } from 'drizzle-orm/pg-core';

export const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();
