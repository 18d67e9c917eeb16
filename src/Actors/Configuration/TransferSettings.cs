using Akka.Configuration;

namespace PapaActors.Actors.Configuration;

/// <summary>
/// How messages that may be large (weights, logits) travel to actors on other nodes: `papa.transfer`.
/// <paramref name="StreamAboveBytes"/>: a larger message leaves Akka.Remote for the stream connection, a message up to
/// this size crosses as one plain Akka message; <paramref name="MaxMessageBytes"/>: the largest message a node accepts;
/// <paramref name="Timeout"/>: every wait of the stream path (port request, connect, a stalled read or write, a payload
/// after its announcement); <paramref name="StreamPort"/>: where this node accepts stream connections (0 = any free
/// port), at most <paramref name="MaxInboundConnections"/> at once and <paramref name="MaxConnectionsPerAddress"/> from one IP
/// address; <paramref name="HandshakeTimeout"/>: an accepted connection's TLS handshake and first frame must begin within it,
/// and it is the grace before <paramref name="MinBytesPerSecond"/> is asked of a frame; payloads that came before their
/// announcement are held up to <paramref name="MaxEarlyBytesPerPeer"/> from one sending address and <paramref name="MaxEarlyBytes"/>
/// in all.
/// </summary>
public sealed record TransferSettings(int StreamAboveBytes, long MaxMessageBytes, TimeSpan Timeout, int StreamPort, int MaxInboundConnections,
    int MaxConnectionsPerAddress, TimeSpan HandshakeTimeout, long MinBytesPerSecond, long MaxEarlyBytesPerPeer, long MaxEarlyBytes)
{
    /// <summary>Reads `papa.transfer` from <paramref name="config"/> over the documented defaults.</summary>
    public static TransferSettings FromConfig(Config config) =>
        Read(new SettingsReader(ReferenceEquals(config, PapaConfig.Defaults) ? config : config.WithFallback(PapaConfig.Defaults)));

    internal static TransferSettings Read(SettingsReader read) => new(
        StreamAboveBytes: (int)read.ByteSize("transfer.stream-above", 1024, 64 << 20),
        MaxMessageBytes: read.ByteSize("transfer.max-message-bytes", 1024, 1L << 40),
        Timeout: read.Duration("transfer.timeout", positive: true),
        StreamPort: read.Int("transfer.stream-port", 0, 65535),
        MaxInboundConnections: read.Int("transfer.max-inbound-connections", 1, 10_000),
        MaxConnectionsPerAddress: read.Int("transfer.max-connections-per-address", 1, 10_000),
        HandshakeTimeout: read.Duration("transfer.handshake-timeout", positive: true),
        MinBytesPerSecond: read.ByteSize("transfer.min-bytes-per-second", 0, 1L << 40),
        MaxEarlyBytesPerPeer: read.ByteSize("transfer.max-early-bytes-per-peer", 0, 1L << 40),
        MaxEarlyBytes: read.ByteSize("transfer.max-early-bytes", 0, 1L << 40));
}
