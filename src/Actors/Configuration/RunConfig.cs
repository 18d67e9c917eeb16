using Akka.Configuration;
using PapaActors.Actors.Checkpoints;

namespace PapaActors.Actors.Configuration;

/// <summary>
/// One run's configuration in every form the run uses, made once and never changed: the HOCON <see cref="Config"/>
/// (Akka's settings, the checks of this machine), its validated <see cref="PapaSettings"/>, its <see cref="Text"/>
/// (<see cref="PapaConfig.Render"/>: config.conf, what member nodes are sent) and the <see cref="Identity"/> a
/// checkpoint of the run carries. Which keys that identity covers (the keys a resume may not change, and the keys
/// `papa compare` groups runs by) is said in one place: <see cref="CheckpointIdentity.ChangesResults"/>.
/// </summary>
public sealed class RunConfig
{
    private RunConfig(Config config, PapaSettings settings, string text)
    {
        Config = config;
        Settings = settings;
        Text = text;
        Identity = CheckpointIdentity.Of(text);
    }

    public Config Config { get; }

    public PapaSettings Settings { get; }

    /// <summary>The resolved `papa` section and the `akka` keys the user gave, one `key = value` line each.</summary>
    public string Text { get; }

    public CheckpointIdentity Identity { get; }

    /// <summary>Validates <paramref name="config"/>: the first bad key raises a <see cref="ConfigException"/> naming it.</summary>
    public static RunConfig From(Config config) => new(config, PapaSettings.FromConfig(config), PapaConfig.Render(config));

    /// <summary>See <see cref="PapaConfig.Load(string?, IEnumerable{string})"/>.</summary>
    public static RunConfig Load(string? file, IEnumerable<string> overrides) => From(PapaConfig.Load(file, overrides));

    /// <summary>The config.conf of a run folder; see <see cref="PapaConfig.LoadRecorded"/>.</summary>
    public static RunConfig LoadRecorded(string file) => From(PapaConfig.LoadRecorded(file));
}
