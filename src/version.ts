/** tickerq's version, on its own so the dashboard can name it without importing the core (which loads the dashboard). */
export const VERSION = "0.1.0";
