using System.Collections.Concurrent;
using System.Net;
using Akka.Actor;

namespace PapaActors.Actors.Transfer;

/// <summary>
/// The IP addresses a node's Akka address stands for: what a stream connection from that node comes from (a node binds
/// its outgoing stream sockets to its own address, <see cref="StreamSockets.Connect"/>).
/// </summary>
internal static class PeerAddresses
{
    private static readonly ConcurrentDictionary<string, IPAddress[]> Resolved = new();

    /// <summary>The addresses of <paramref name="node"/>; of this node (<paramref name="self"/>) for a local one.</summary>
    public static IPAddress[] Of(Address node, Address self) => Of((node.HasLocalScope ? self : node).Host);

    public static IPAddress[] Of(string? host) =>
        string.IsNullOrEmpty(host) ? [] : Resolved.GetOrAdd(host, h =>
        {
            try
            {
                return (IPAddress.TryParse(h, out var literal) ? [literal] : Dns.GetHostAddresses(h)).Select(Normal).ToArray();
            }
            catch (System.Net.Sockets.SocketException)
            {
                return [];
            }
        });

    /// <summary>An IPv4 address seen through a dual-stack socket is the IPv4 address.</summary>
    public static IPAddress Normal(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}

/// <summary>
/// What this node's receiving actors hold of payloads that came before their announcement, per sending address and in
/// all: an unannounced frame is held only while it fits under `papa.transfer.max-early-bytes-per-peer` and
/// `max-early-bytes` and these counts, so frames nobody announces cannot fill the memory.
/// </summary>
internal sealed class EarlyPayloads(long maxBytesPerPeer, long maxBytes)
{
    // A node sends one node sum, checkpoint or soup reply per receiver at a time; 64 leaves room for many members a node.
    public const int MaxPerPeer = 64;
    // Failures count too (they hold no bytes): a stranger's zero-length frames must not pile up either.
    public const int MaxInAll = 1024;
    // Refused addresses logged once each: a flood from many addresses must not flood the log.
    private const int RefusalsLogged = 1024;
    private readonly Dictionary<IPAddress, (int Count, long Bytes)> _byPeer = [];
    private readonly HashSet<IPAddress> _logged = [];
    private int _count;
    private long _bytes;

    /// <summary>The bytes held now, in all.</summary>
    public long Bytes
    {
        get
        {
            lock (_byPeer)
                return _bytes;
        }
    }

    /// <summary>Takes room for <paramref name="bytes"/> from <paramref name="peer"/>; false when it would pass a limit.</summary>
    public bool TryHold(IPAddress peer, long bytes)
    {
        lock (_byPeer)
        {
            var (count, held) = _byPeer.GetValueOrDefault(peer);
            if (count >= MaxPerPeer || _count >= MaxInAll || held + bytes > maxBytesPerPeer || _bytes + bytes > maxBytes)
                return false;
            _byPeer[peer] = (count + 1, held + bytes);
            (_count, _bytes) = (_count + 1, _bytes + bytes);
            return true;
        }
    }

    public void Release(IPAddress peer, long bytes)
    {
        lock (_byPeer)
        {
            var (count, held) = _byPeer[peer];
            if (count == 1)
                _byPeer.Remove(peer);
            else
                _byPeer[peer] = (count - 1, held - bytes);
            (_count, _bytes) = (_count - 1, _bytes - bytes);
        }
    }

    /// <summary>True the first time a payload from <paramref name="peer"/> is dropped (while fewer than a bound are remembered).</summary>
    public bool FirstRefusal(IPAddress peer)
    {
        lock (_logged)
            return _logged.Count < RefusalsLogged && _logged.Add(peer);
    }
}
