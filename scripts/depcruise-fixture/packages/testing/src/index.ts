export const deployment = 'fixture';
