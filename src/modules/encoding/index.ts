// Encoding: GSM-7 / UCS-2 choice, segment counts and parts of SMS bodies. Pure functions; the
// messages API, campaigns, the dispatcher and the preview endpoint all count with these.
export { analyzeText, segmentsOf, LIMITS } from './segments';
export type { TextAnalysis, TextEncoding, AnalyzeOptions } from './segments';
export type { SmartReplacement } from './smart-encoding';
export { smartReplace } from './smart-encoding';
export { gsmSeptets, GSM_BASIC_CHARACTERS, GSM_EXTENSION_CHARACTERS } from './gsm-alphabet';
