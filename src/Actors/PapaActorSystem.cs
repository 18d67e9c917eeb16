using Akka.Actor;
using Akka.Configuration;
using PapaActors.Actors.Configuration;

namespace PapaActors.Actors;

/// <summary>Creates ActorSystems with the project's Akka settings (hocon/akka.conf) under a run's config.</summary>
public static class PapaActorSystem
{
    /// <summary>
    /// <paramref name="overrides"/> (e.g. a node's remote settings) win over the run config, which wins over
    /// hocon/akka.conf; the run's `papa` section is part of the system config (the bulk transport reads it).
    /// </summary>
    public static ActorSystem Create(string name, Config runConfig, Config? overrides = null) =>
        ActorSystem.Create(name, BuildConfig(runConfig, overrides));

    public static Config BuildConfig(Config runConfig, Config? overrides = null) =>
        (overrides ?? ConfigurationFactory.Empty).WithFallback(runConfig).WithFallback(PapaConfig.AkkaDefaults);
}
