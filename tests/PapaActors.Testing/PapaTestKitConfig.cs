using Akka.Actor;
using Akka.Configuration;
using PapaActors.Actors;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Serialization;

namespace PapaActors.Testing;

/// <summary>
/// ActorSystem configuration for schedule tests: a run configuration (the reference defaults plus your
/// overrides), every message serialized as it would be between nodes, and virtual time
/// (Akka.TestKit.TestScheduler), so round timeouts fire only when the test advances the clock.
/// </summary>
public static class PapaTestKitConfig
{
    /// <summary>Checkpoints are off unless the overrides turn them on: a schedule replay writes no files.</summary>
    public static Config For(params string[] overrides) => For(PapaConfig.Load(null, ["checkpoint.every-epochs=0", .. overrides]));

    /// <param name="virtualTime">Off: timers fire on the wall clock, as a test of whole runs needs.</param>
    public static Config For(Config runConfig, bool virtualTime = true) => Setup(runConfig, virtualTime).ToConfig();

    /// <summary>The setup behind <see cref="For(Config, bool)"/>, to add remoting, TLS or Akka keys to (`with { ... }`).</summary>
    public static PapaSystemSetup Setup(Config runConfig, bool virtualTime = true) =>
        new(runConfig) { SerializeEveryMessage = true, VirtualTime = virtualTime, Logging = SystemLogging.TestKit };

    /// <summary>The run settings an ActorSystem was configured with.</summary>
    /// <remarks>
    /// Only its `papa` section is read: the rest is every Akka module's defaults (such as `akka.test.*`), which
    /// the validation of a user's `akka` keys does not know.
    /// </remarks>
    public static PapaSettings Settings(ActorSystem system) =>
        PapaSettings.FromConfig(ConfigurationFactory.ParseString(string.Join('\n',
            PapaConfig.Render(system.Settings.Config).Split('\n').Where(line => line.StartsWith(PapaConfig.Root + ".", StringComparison.Ordinal)))));
}
