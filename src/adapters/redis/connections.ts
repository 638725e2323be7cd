import { KeymintError } from '../../errors.js';
import {
  SUBSCRIBER_OPTIONS,
  type ConnectionFactory,
  type SubscriberConnection,
} from './subscribe.js';

interface Duplicable {
  duplicate(override?: object): SubscriberConnection;
}

interface ClusterNodes {
  isCluster: true;
  nodes(role?: 'all' | 'master' | 'slave'): Duplicable[];
}

const canDuplicate = (value: unknown): value is Duplicable =>
  typeof (value as Partial<Duplicable> | null)?.duplicate === 'function';

/**
 * Where subscriber connections come from. Over a `Redis` (standalone or Sentinel): a duplicate of
 * it, with its options. Over a `Cluster`: a duplicate of one of its nodes, picked at random each
 * time (any node will do: a PUBLISH reaches every node of a cluster), so that a reconnection
 * after a node left goes to a node the cluster still knows. `Cluster.duplicate()` would give a
 * whole new cluster client, whose own subscriber moves between nodes without telling, so missed
 * messages would go unnoticed.
 */
export function subscriberFactory(client: unknown): ConnectionFactory {
  const cluster = client as Partial<ClusterNodes> | null;
  if (cluster?.isCluster === true && typeof cluster.nodes === 'function') {
    const nodes = cluster.nodes.bind(cluster);
    return () => {
      const known = nodes('all').filter(canDuplicate);
      if (known.length === 0) {
        throw new Error(
          'The Redis Cluster client knows no node yet (it is not connected): keymint subscribes once it is.',
        );
      }
      return known[Math.floor(Math.random() * known.length)]!.duplicate(SUBSCRIBER_OPTIONS);
    };
  }
  if (canDuplicate(client)) return () => client.duplicate(SUBSCRIBER_OPTIONS);
  throw new KeymintError(
    'CONFIG',
    'redisAdapter() subscribe() needs an ioredis Redis or Cluster client (with duplicate()), to open a connection of its own.',
  );
}
