namespace PapaActors.Actors.Configuration;

public enum MixingMethod { None, Papa, PapaAll, Papa2 }

public static class MixingMethods
{
    private static readonly Dictionary<string, MixingMethod> ByName = new()
    {
        ["none"] = MixingMethod.None,
        ["papa"] = MixingMethod.Papa,
        ["papa-all"] = MixingMethod.PapaAll,
        ["papa-2"] = MixingMethod.Papa2,
    };

    public static IReadOnlyCollection<string> Names => ByName.Keys;
    public static MixingMethod Parse(string name) => ByName[name];
    public static string Name(this MixingMethod method) => ByName.First(kv => kv.Value == method).Key;
}

/// <summary>How PAPA-2 draws the parents of each refill (`papa.pairing`).</summary>
public enum Papa2Pairing
{
    /// <summary>A seeded random cycle: every member parents exactly two children, one of them its own slot.</summary>
    Cycle,

    /// <summary>As the reference: the first p pairs of the lexicographic pair list, shuffled; child j replaces member j.</summary>
    Reference,
}

public static class Papa2Pairings
{
    /// <summary>The config and journal names, in the order of <see cref="Papa2Pairing"/>.</summary>
    public static readonly string[] Names = ["cycle", "reference"];
    public static Papa2Pairing Parse(string name) => (Papa2Pairing)Array.IndexOf(Names, name);
    public static string Name(this Papa2Pairing pairing) => Names[(int)pairing];
}

/// <summary>How and when the population is mixed.</summary>
/// <param name="PushDelaySteps">PAPA: steps of the next round a member trains before it applies a push (0 = at once).</param>
/// <param name="MixFromStart">PAPA-all and PAPA-2: the first merge is after epoch 1, then every <paramref name="EveryEpochs"/>
/// (the reference's mix_from_start, the configuration's default); false: after every-epochs, 2 every-epochs, ...</param>
/// <param name="Pairing">PAPA-2: how each refill's parents are drawn.</param>
public sealed record MixingSettings(MixingMethod Method, double Rho, int EmaEverySteps, double EveryEpochs, bool LinearLrScaling = false,
    double MergeStart = 0, double MergeEnd = 1, int PushDelaySteps = 0, bool MixFromStart = false, Papa2Pairing Pairing = Papa2Pairing.Cycle);
