using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Remote;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Serialization;
using PapaActors.Actors.Tls;

namespace PapaActors.Actors;

/// <summary>Where Akka's own log events go.</summary>
public enum SystemLogging
{
    /// <summary>To NLog, per source (hocon/akka.conf): runs and nodes.</summary>
    NLog,
    /// <summary>Akka's console logger, warnings and errors only: a replay, tests of whole runs.</summary>
    QuietConsole,
    /// <summary>Akka.TestKit's listener, warnings and errors, so EventFilter can see them: actor tests.</summary>
    TestKit,
}

/// <summary>Where a node listens for Akka.Remote (port 0: any free port).</summary>
public sealed record NodeEndpoint(string Hostname, int Port)
{
    public static readonly NodeEndpoint Loopback = new("127.0.0.1", 0);
}

/// <summary>
/// The one typed description of an ActorSystem of PapaActors (a local run, a cluster node, a benchmark's pair of remote
/// systems, a test's system), turned into Akka's settings here and nowhere else. Precedence, strongest first:
/// <see cref="Overrides"/>, the test switches, the node's endpoint, role, seeds and TLS, the run config (a user's `akka`
/// keys), hocon/cluster.conf (remote systems), hocon/akka.conf.
/// </summary>
/// <remarks>
/// Akka.Hosting (with Akka.Remote.Hosting and Akka.Cluster.Hosting) builds the same from typed options, but it owns the
/// ActorSystem's life inside a Microsoft.Extensions.Hosting host: `papa node` restarts its ActorSystem after a downing,
/// `papa bench` and the tests run several systems in one process and stop them themselves, TestKit classes take a Config
/// or a setup, and user-facing HOCON (hocon/*.conf, --set akka.*) must keep overriding any key. A host per system would
/// add a dependency injection container and a host lifetime to each of them for no gain, so a small record is used.
/// </remarks>
public sealed record PapaSystemSetup(Config Run)
{
    /// <summary>null: no remoting (a local run).</summary>
    public NodeEndpoint? Remote { get; init; }

    /// <summary>With <see cref="Remote"/>: a cluster node of this role; null: plain remoting (no cluster).</summary>
    public string? ClusterRole { get; init; }

    public IReadOnlyList<string> SeedNodes { get; init; } = [];

    public SystemLogging Logging { get; init; } = SystemLogging.NLog;

    /// <summary>Every message is serialized, also between local actors: tests prove each message crosses the wire.</summary>
    public bool SerializeEveryMessage { get; init; }

    /// <summary>Akka.TestKit's TestScheduler: timers fire only when a test advances the clock.</summary>
    public bool VirtualTime { get; init; }

    /// <summary>Akka keys a test needs beyond these (a small frame size, a short retry gate); they win over everything.</summary>
    public Config? Overrides { get; init; }

    public static PapaSystemSetup ClusterNode(Config run, string role, NodeEndpoint endpoint, IReadOnlyList<string> seedNodes) =>
        new(run) { Remote = endpoint, ClusterRole = role, SeedNodes = seedNodes };

    public static PapaSystemSetup RemoteNode(Config run, NodeEndpoint endpoint) => new(run) { Remote = endpoint };

    /// <summary>`papa.cluster.tls` of the run config; off for a system without remoting.</summary>
    public TlsSettings Tls => Remote is null ? TlsSettings.Off : TlsSettings.FromConfig(Run);

    public Config ToConfig()
    {
        var config = Run;
        if (Remote is { } endpoint)
        {
            var node = $"""
                akka.actor.provider = {(ClusterRole is null ? "remote" : "cluster")}
                akka.remote.dot-netty.tcp.hostname = {PapaConfig.Quote(endpoint.Hostname)}
                akka.remote.dot-netty.tcp.port = {endpoint.Port}
                akka.remote.dot-netty.tcp.enable-ssl = {(Tls.Enabled ? "on" : "off")}
                akka.cluster.roles = [{(ClusterRole is null ? "" : PapaConfig.Quote(ClusterRole))}]
                akka.cluster.seed-nodes = [{string.Join(", ", SeedNodes.Select(PapaConfig.Quote))}]
                """;
            config = ConfigurationFactory.ParseString(node).WithFallback(config).WithFallback(PapaConfig.ClusterDefaults);
        }
        return (Overrides ?? ConfigurationFactory.Empty).WithFallback(TestSwitches()).WithFallback(config).WithFallback(PapaConfig.AkkaDefaults);
    }

    private Config TestSwitches()
    {
        var lines = new List<string>();
        if (SerializeEveryMessage)
        {
            lines.Add("akka.actor.serialize-messages = on");
            lines.Add(RefusingJsonSerializer.InProcessChecksJson);
        }
        if (VirtualTime)
            lines.Add("""akka.scheduler.implementation = "Akka.TestKit.TestScheduler, Akka.TestKit" """);
        if (Logging != SystemLogging.NLog)
        {
            lines.Add("akka.loglevel = WARNING");
            lines.Add(Logging == SystemLogging.TestKit
                ? """akka.loggers = ["Akka.TestKit.TestEventListener, Akka.TestKit"]"""
                : """akka.loggers = ["Akka.Event.DefaultLogger"]""");
        }
        return ConfigurationFactory.ParseString(string.Join("\n", lines));
    }

    /// <summary>The config and, with TLS, this node's certificate for Akka.Remote and the stream path (<see cref="NodeTls"/>).</summary>
    /// <exception cref="ConfigException">a bad `papa.cluster.tls` key or certificate file</exception>
    public ActorSystemSetup ToAkkaSetup()
    {
        var bootstrap = BootstrapSetup.Create().WithConfig(ToConfig());
        if (!Tls.Enabled)
            return ActorSystemSetup.Create(bootstrap);
        var tls = NodeTls.Load(Tls);
        return ActorSystemSetup.Create(bootstrap, tls.AkkaSetup(), tls);
    }

    /// <exception cref="ConfigException">also when the node cannot listen on its endpoint (a port in use, an address not of this machine)</exception>
    public ActorSystem Create(string name)
    {
        try
        {
            return ActorSystem.Create(name, ToAkkaSetup());
        }
        catch (AggregateException e) when (e.Flatten().InnerExceptions.OfType<RemoteTransportException>().FirstOrDefault() is { } bind)
        {
            throw new ConfigException($"cannot listen on {Remote?.Hostname}:{Remote?.Port}: {bind.Message.Replace(" See InnerException for details.", "")} " +
                $"({bind.InnerException?.Message}); is another node using it? Choose another --port or --hostname");
        }
    }
}
