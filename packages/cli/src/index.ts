export { main, type CliIo } from './main.js';
export { renderDeliveries, formatDeliveries, type RenderedDelivery } from './commands/render.js';
