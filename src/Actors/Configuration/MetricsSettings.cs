namespace PapaActors.Actors.Configuration;

/// <summary>
/// `papa.cluster`: the file of the run secret (null: the environment variable, if set), and how long a cluster member
/// may take to prove it before it is downed.
/// </summary>
public sealed record SecretSettings(string? File, TimeSpan ProveWithin);

/// <summary>
/// `papa.metrics`: what a run measures beside training, in eval mode without gradients, so that no member's weights,
/// optimizer, BatchNorm buffers or random streams change. <paramref name="MixGain"/>: every member's held-out accuracy
/// just before and just after each <paramref name="MixGainEvery"/>-th mix; <paramref name="FeatureSimilarity"/>: the
/// linear CKA of the members' penultimate features on <paramref name="FeatureImages"/> held-out images at every epoch end.
/// </summary>
public sealed record MetricsSettings(bool MixGain, int MixGainEvery, bool FeatureSimilarity, int FeatureImages)
{
    public static readonly MetricsSettings Off = new(false, 1, false, 256);
}
