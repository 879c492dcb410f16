import { describe, expect, it } from 'vitest';
import { partitionKey, unacknowledged } from './produce-acks';

const ack = (topicName: string, partition: number) => ({ topicName, partition, errorCode: 0 });

describe('unacknowledged', () => {
  it('is empty when every partition the batch used was acknowledged', () => {
    const placed = [partitionKey('in', 0), partitionKey('in', 3), partitionKey('rc', 1)];
    expect(unacknowledged(placed, [ack('rc', 1), ack('in', 3), ack('in', 0)])).toEqual([]);
  });

  it('names the partitions a resolved batch never acknowledged, per topic', () => {
    const placed = [
      partitionKey('in', 0),
      partitionKey('in', 1),
      partitionKey('rc', 1),
      partitionKey('in', 1),
    ];
    // The broker answered for partition 1 of another topic only.
    expect(unacknowledged(placed, [ack('in', 0), ack('out', 1)])).toEqual(['in/1', 'rc/1']);
  });

  it('ignores acknowledgements for partitions the batch did not use', () => {
    expect(unacknowledged([partitionKey('in', 2)], [ack('in', 2), ack('in', 5)])).toEqual([]);
  });
});
