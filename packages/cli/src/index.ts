export { formatDeliveries, type RenderedDelivery, renderDeliveries } from './commands/render.js';
export { type CliIo, main } from './main.js';
