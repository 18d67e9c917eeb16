using Akka.Configuration;

namespace PapaActors.Actors.Configuration;

/// <summary>
/// How messages that may be large (weights, logits) travel to actors on other nodes: `papa.transfer`.
/// <paramref name="StreamAboveBytes"/>: a larger message leaves Akka.Remote for the stream connection, a message up to
/// this size crosses as one plain Akka message; <paramref name="MaxMessageBytes"/>: the largest message a node accepts;
/// <paramref name="Timeout"/>: every wait of the stream path (port request, connect, a stalled read or write, a payload
/// after its announcement); <paramref name="StreamPort"/>: where this node accepts stream connections (0 = any free
/// port), at most <paramref name="MaxInboundConnections"/> at once.
/// </summary>
public sealed record TransferSettings(int StreamAboveBytes, long MaxMessageBytes, TimeSpan Timeout, int StreamPort, int MaxInboundConnections)
{
    /// <summary>Reads `papa.transfer` from <paramref name="config"/> over the documented defaults.</summary>
    public static TransferSettings FromConfig(Config config) =>
        Read(new SettingsReader(ReferenceEquals(config, PapaConfig.Defaults) ? config : config.WithFallback(PapaConfig.Defaults)));

    internal static TransferSettings Read(SettingsReader read) => new(
        StreamAboveBytes: (int)read.ByteSize("transfer.stream-above", 1024, 64 << 20),
        MaxMessageBytes: read.ByteSize("transfer.max-message-bytes", 1024, 1L << 40),
        Timeout: read.Duration("transfer.timeout", positive: true),
        StreamPort: read.Int("transfer.stream-port", 0, 65535),
        MaxInboundConnections: read.Int("transfer.max-inbound-connections", 1, 10_000));
}
