// Every Prometheus metric Parley exports, named once so code, dashboards (deploy/grafana) and
// alert rules (deploy/prometheus) agree. Labels never carry a number or a message id.
export const METRICS = {
  // sends
  messagesAccepted: { name: 'parley_messages_accepted_total', labels: ['type'] },
  acceptStage: { name: 'parley_accept_stage_seconds', labels: ['stage'] },
  messagesSubmitted: {
    name: 'parley_messages_submitted_total',
    labels: ['carrier', 'connector', 'sender_kind', 'type'],
  },
  segmentsSubmitted: {
    name: 'parley_segments_submitted_total',
    labels: ['carrier', 'connector', 'sender_kind', 'type', 'encoding'],
  },
  messagesFinal: { name: 'parley_messages_final_total', labels: ['status', 'type'] },
  submitLatency: { name: 'parley_submit_latency_seconds', labels: ['carrier', 'connector'] },
  acceptToSubmit: { name: 'parley_accept_to_submit_seconds', labels: ['type'] },
  throttled: { name: 'parley_throttled_total', labels: ['carrier', 'connector', 'source'] },
  retries: { name: 'parley_submit_retries_total', labels: ['carrier', 'connector', 'code'] },
  dlqMessages: { name: 'parley_dlq_messages_total', labels: ['topic', 'reason'] },
  suppressed: { name: 'parley_messages_suppressed_total', labels: ['reason', 'type'] },
  carrierCap: { name: 'parley_carrier_cap_segments_per_second', labels: ['carrier'] },
  // receipts
  receipts: { name: 'parley_receipts_total', labels: ['carrier', 'connector', 'status', 'error_code'] },
  receiptsUnmatched: { name: 'parley_receipts_unmatched_total', labels: ['connector', 'reason'] },
  receiptLatency: { name: 'parley_receipt_latency_seconds', labels: ['carrier', 'connector'] },
  receiptStage: { name: 'parley_receipt_stage_seconds', labels: ['stage'] },
  parkedReceipts: { name: 'parley_parked_receipts', labels: [] },
  unknownResolved: { name: 'parley_unknown_outcomes_resolved_total', labels: ['status'] },
  callbacks: { name: 'parley_callback_deliveries_total', labels: ['outcome'] },
  // replies
  inbound: { name: 'parley_inbound_messages_total', labels: ['connector'] },
  repliesByIntent: { name: 'parley_replies_total', labels: ['intent'] },
  optOuts: { name: 'parley_opt_outs_total', labels: ['source'] },
  optOutCommitLatency: { name: 'parley_opt_out_commit_seconds', labels: [] },
  // kafka, campaigns, imports
  consumerLag: { name: 'parley_kafka_consumer_lag', labels: ['topic', 'group'] },
  consumerStalled: { name: 'parley_consumer_stalled', labels: ['group', 'topic', 'partition'] },
  campaignMessages: { name: 'parley_campaign_messages_total', labels: ['stage'] },
  importRows: { name: 'parley_import_rows_total', labels: ['outcome'] },
  // SMS-pumping guards: the share of a workspace's daily segment budget used today (workspace id).
  workspaceBudgetUsed: { name: 'parley_workspace_budget_used_ratio', labels: ['workspace'] },
} as const;
