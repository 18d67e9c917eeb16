using System.Security.Cryptography;
using System.Text;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Checkpoints;

/// <summary>
/// What a checkpoint was made with. Resuming replays rounds and promises a bit-identical result, which holds
/// only with the same result-changing settings and the same numerical code, so a checkpoint made under
/// another identity is refused rather than silently continued.
/// </summary>
public sealed record CheckpointIdentity(string ConfigFingerprint, string CodeVersion)
{
    // Keys that change how a run is operated (checkpoints, timeouts, fault handling, transport), never what it computes.
    private static readonly string[] OperationalSections = ["papa.checkpoint.", "papa.fault-injection.", "papa.transfer."];
    private static readonly string[] OperationalKeys =
        ["papa.round-timeout", "papa.replacement-timeout", "papa.on-member-loss", "papa.max-restarts", "papa.save-members"];

    /// <summary>
    /// The MVID of PapaActors.Models (builds are deterministic, so it changes exactly when that code does)
    /// and the TorchSharp version.
    /// </summary>
    public static string CurrentCodeVersion { get; } =
        $"models {typeof(WeightSnapshot).Assembly.ManifestModule.ModuleVersionId:N}, torchsharp {typeof(TorchSharp.torch).Assembly.GetName().Version}";

    /// <summary>
    /// The identity of a run whose resolved `papa` section (PapaConfig.Render) is <paramref name="resolvedConfig"/>;
    /// made once per run, as <see cref="Configuration.RunConfig.Identity"/>.
    /// </summary>
    internal static CheckpointIdentity Of(string resolvedConfig) => new(ConfigFingerprintOf(resolvedConfig), CurrentCodeVersion);

    /// <summary>SHA-256 over the `papa.key = value` lines that can change results, sorted so key order does not matter.</summary>
    private static string ConfigFingerprintOf(string resolvedConfig)
    {
        var lines = resolvedConfig.Split('\n')
            .Select(line => line.Trim())
            .Where(line => ChangesResults(line.Split('=', 2)[0].Trim()))
            .Order(StringComparer.Ordinal);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n", lines))));
    }

    /// <summary>Whether the `papa.` key can change what a run computes (also what `papa compare` groups runs by).</summary>
    public static bool ChangesResults(string key) =>
        key.StartsWith("papa.", StringComparison.Ordinal)
            && !OperationalSections.Any(section => key.StartsWith(section, StringComparison.Ordinal))
            && !OperationalKeys.Contains(key);
}
