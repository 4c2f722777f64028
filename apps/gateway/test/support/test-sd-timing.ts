/**
 * The SD timing every gateway scenario starts the gateway with: short initial and repetition
 * delays so the peers see the first offers quickly. One copy, so the export, IPv6 and import
 * scenarios run the gateway alike.
 */
export const TEST_SD_TIMING = {
  initialDelayMin: 10,
  initialDelayMax: 30,
  repetitionsBaseDelay: 50,
  cyclicOfferDelay: 500,
} as const;
