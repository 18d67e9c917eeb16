using PapaActors.Actors.Configuration;
using PapaActors.Models;
using PapaActors.Models.Data;
using PapaActors.Models.Training;

namespace PapaActors.Actors.Schedule;

/// <summary>The parents of the child that replaces one member in a PAPA-2 refill.</summary>
public readonly record struct ParentPair(int First, int Second)
{
    /// <summary>The same parents in index order: the key of their child, which does not depend on the order.</summary>
    public ParentPair Sorted => First <= Second ? this : new ParentPair(Second, First);

    public override string ToString() => $"{First}+{Second}";
}

/// <summary>
/// What happens to the population at the end of a round: member j becomes keep * w_j + (1 - keep) * target_j, where
/// the target is the mean of all members or the child of j's parents. The shares below are the one place that says
/// which members' weights (and REPAIR statistics) make each member after the mix.
/// </summary>
public abstract record MixDecision
{
    public abstract string Kind { get; }

    /// <summary>The share member <paramref name="member"/> keeps of its own weights.</summary>
    public virtual double KeepOf(int member) => 0;

    /// <summary>The parents whose child member <paramref name="member"/> becomes (PAPA-2), else null.</summary>
    public virtual ParentPair? ParentsOf(int member) => null;

    /// <summary>Each member's share in the target of <paramref name="member"/>: 1/p each in the mean, 1/2 each for a child's parents.</summary>
    public double[] TargetShares(int member, int population)
    {
        if (ParentsOf(member) is { } pair)
            return ParentShares(pair, population);
        return Enumerable.Repeat(1.0 / population, population).ToArray();
    }

    /// <summary>
    /// Each member's share in the weights of <paramref name="member"/> after the mix: keep for itself plus (1 - keep)/p
    /// each for a push, 1/p each for the mean, 1/2 each for a child's parents (a member without a mix keeps itself).
    /// </summary>
    public double[] SharesAfter(int member, int population)
    {
        if (ParentsOf(member) is { } pair)
            return ParentShares(pair, population);
        var keep = this is NoMix ? 1 : KeepOf(member);
        var shares = new double[population];
        for (var i = 0; i < population; i++)
            shares[i] = (1 - keep) / population + (i == member ? keep : 0);
        return shares;
    }

    private static double[] ParentShares(ParentPair pair, int population)
    {
        var shares = new double[population];
        shares[pair.First] += 0.5;
        shares[pair.Second] += 0.5;
        return shares;
    }
}

public sealed record NoMix : MixDecision
{
    public static readonly NoMix Instance = new();
    public override string Kind => "none";
}

/// <summary>PAPA: every member does w &lt;- keep * w + (1 - keep) * mean.</summary>
public sealed record PushTowardMean(double Keep) : MixDecision
{
    public override string Kind => "push";
    public override double KeepOf(int member) => Keep;
}

/// <summary>PAPA-all: every member is replaced by the mean.</summary>
public sealed record ReplaceWithMean : MixDecision
{
    public static readonly ReplaceWithMean Instance = new();
    public override string Kind => "mean";
}

/// <summary>PAPA-2: member j is replaced by the 50/50 average of Parents[j].</summary>
public sealed record ReplaceWithChildren(IReadOnlyList<ParentPair> Parents) : MixDecision
{
    public override string Kind => "children";
    public override ParentPair? ParentsOf(int member) => Parents[member];
    public bool Equals(ReplaceWithChildren? other) => other is not null && Parents.SequenceEqual(other.Parents);
    public override int GetHashCode() => Parents.Aggregate(17, (h, p) => h * 31 + p.GetHashCode());
}

/// <summary>A stretch of training between two synchronisation points, and the mix that ends it.</summary>
public sealed record RoundPlan(int Round, long FirstStep, int Steps, int Epoch, bool EndsEpoch, MixDecision Mix)
{
    public long EndStep => FirstStep + Steps;
}

/// <summary>
/// The whole schedule of a run, a pure function of the mixing settings, population, seed and steps per
/// epoch: which rounds exist, where they end, and how the population is mixed after each. This is what
/// makes a run replayable: the Averager executes it, the journal records it, `papa replay` recomputes it.
/// <list type="bullet">
/// <item>Rounds end at every epoch end, every sync-every-steps steps, and every mixing point.</item>
/// <item>PAPA pushes every ema-every-steps steps, counted globally (the reference counts within each epoch,
/// which makes the spacing irregular at epoch boundaries).</item>
/// <item>PAPA-all and PAPA-2 mix every round(every-epochs * steps-per-epoch) steps; with mix-from-start (as the
/// reference) the first of those merges is after epoch 1, and the grid goes on from there.</item>
/// <item>Nothing is mixed after the last step: the final population is condensed into soups instead.</item>
/// <item>Nothing is mixed outside the merge window (a fraction of training, every method).</item>
/// <item>With linear lr scaling, a PAPA push keeps 1 - (1 - rho) * lr / peak lr, lr being the learning rate
/// of the step after the push (the reference reads it after its scheduler step).</item>
/// </list>
/// </summary>
public sealed class SchedulePlan
{
    private readonly LearningRateSchedule? _learningRates;

    public SchedulePlan(MixingSettings mixing, int population, int epochs, long seed, long stepsPerEpoch, int syncEverySteps,
        LearningRateSchedule? learningRates = null)
    {
        _learningRates = learningRates;
        if (stepsPerEpoch < 1)
            throw new ArgumentOutOfRangeException(nameof(stepsPerEpoch), stepsPerEpoch, "at least one step per epoch");
        Mixing = mixing;
        Population = population;
        Seed = seed;
        StepsPerEpoch = stepsPerEpoch;
        TotalSteps = epochs * stepsPerEpoch;
        MixEverySteps = mixing.Method switch
        {
            MixingMethod.Papa => mixing.EmaEverySteps,
            MixingMethod.PapaAll or MixingMethod.Papa2 => Math.Max(1, (long)Math.Round(mixing.EveryEpochs * stepsPerEpoch)),
            _ => 0,
        };
        // The reference (mix_from_start) merges after its first epoch and every K epochs from there: the grid of
        // merges is anchored at the end of epoch 1 (epochs 1, 6, 11 for K = 5). With K <= 1 that grid is the plain one.
        FirstMixStep = MixEverySteps > 0 && mixing.MixFromStart && mixing.Method is MixingMethod.PapaAll or MixingMethod.Papa2
            ? (stepsPerEpoch - 1) % MixEverySteps + 1
            : MixEverySteps;

        var ends = new SortedSet<long>();
        for (var epoch = 1; epoch <= epochs; epoch++)
            ends.Add(epoch * stepsPerEpoch);
        for (var step = (long)syncEverySteps; step < TotalSteps; step += syncEverySteps)
            ends.Add(step);
        for (var step = FirstMixStep; MixEverySteps > 0 && step < TotalSteps; step += MixEverySteps)
            ends.Add(step);

        var rounds = new List<RoundPlan>();
        long first = 0;
        foreach (var end in ends)
        {
            var round = rounds.Count;
            var epoch = (int)(first / stepsPerEpoch);
            rounds.Add(new RoundPlan(round, first, (int)(end - first), epoch, end % stepsPerEpoch == 0, DecideMix(round, end)));
            first = end;
        }
        Rounds = rounds;
    }

    public MixingSettings Mixing { get; }
    public int Population { get; }
    public long Seed { get; }
    public long StepsPerEpoch { get; }
    public long TotalSteps { get; }
    public long MixEverySteps { get; }

    /// <summary>The first step after which the population may mix; then every <see cref="MixEverySteps"/>.</summary>
    public long FirstMixStep { get; }
    public IReadOnlyList<RoundPlan> Rounds { get; }

    /// <summary>The plan of a run on <paramref name="data"/>: an epoch is one pass over its training split.</summary>
    public static SchedulePlan For(PapaSettings settings, DataSplits data) =>
        For(settings, MemberBatches.StepsIn(data.Train.Count, settings.Training.BatchSize));

    public static SchedulePlan For(PapaSettings settings, long stepsPerEpoch)
    {
        var learningRates = LearningRateSchedule.For(settings.Training.Optimizer, settings.Epochs, stepsPerEpoch);
        return new(settings.Mixing, settings.Population, settings.Epochs, settings.Seed, stepsPerEpoch, settings.SyncEverySteps, learningRates);
    }

    private MixDecision DecideMix(int round, long endStep)
    {
        var progress = (double)endStep / TotalSteps;
        if (MixEverySteps == 0 || endStep >= TotalSteps || endStep < FirstMixStep || (endStep - FirstMixStep) % MixEverySteps != 0
            || progress < Mixing.MergeStart || progress > Mixing.MergeEnd)
            return NoMix.Instance;
        return Mixing.Method switch
        {
            MixingMethod.Papa => new PushTowardMean(Keep(endStep)),
            MixingMethod.PapaAll => ReplaceWithMean.Instance,
            MixingMethod.Papa2 => new ReplaceWithChildren(DrawParents(Mixing.Pairing, Population, Seeds.DeriveInt(Seed, Seeds.Stream.Schedule, round))),
            _ => NoMix.Instance,
        };
    }

    private double Keep(long endStep)
    {
        if (!Mixing.LinearLrScaling)
            return Mixing.Rho;
        var learningRates = _learningRates ?? throw new InvalidOperationException("linear lr scaling needs the learning-rate schedule of the run");
        return 1 - (1 - Mixing.Rho) * learningRates.At(endStep) / learningRates.Peak;
    }

    /// <summary>The parents of one PAPA-2 refill, drawn as <paramref name="pairing"/> says from a generator seeded with <paramref name="seed"/>.</summary>
    public static IReadOnlyList<ParentPair> DrawParents(Papa2Pairing pairing, int population, int seed) => pairing switch
    {
        Papa2Pairing.Reference => DrawReferenceParents(population, seed),
        _ => DrawCycleParents(population, seed),
    };

    /// <summary>
    /// PAPA-2 pairs (pairing = cycle): a seeded random cycle through all members, pi_0 -> pi_1 -> ... -> pi_0; member pi_k is
    /// replaced by the child of (pi_k, pi_k+1). Every member is a parent of exactly two children, one of them
    /// its own replacement (so the momentum and augmentations a slot keeps belong to a parent), and with three
    /// or more members no pair repeats. The reference draw is biased: it shuffles only the first p pairs of the
    /// lexicographic pair list, so member 0 parents p-1 of the p children.
    /// </summary>
    public static IReadOnlyList<ParentPair> DrawCycleParents(int population, int seed)
    {
        var cycle = Shuffled(Enumerable.Range(0, population).ToArray(), seed);
        var parents = new ParentPair[population];
        for (var k = 0; k < population; k++)
            parents[cycle[k]] = new ParentPair(cycle[k], cycle[(k + 1) % population]);
        return parents;
    }

    /// <summary>
    /// PAPA-2 pairs (pairing = reference), the reference's draw for pair_half: the pairs (a, b), a &lt; b, in
    /// lexicographic order, of which only the first p are shuffled (torch.combinations, then randperm(p), p = n_pop
    /// without selection); child j replaces member j. So member 0 parents p-1 of the p children and the one other
    /// pair is (1, 2). Two members: both are the child of (0, 1); one member: its own child.
    /// </summary>
    public static IReadOnlyList<ParentPair> DrawReferenceParents(int population, int seed)
    {
        if (population < 3)
            return Enumerable.Repeat(new ParentPair(0, Math.Min(1, population - 1)), population).ToArray();
        var lexicographic = Enumerable.Range(0, population)
            .SelectMany(a => Enumerable.Range(a + 1, population - a - 1).Select(b => new ParentPair(a, b)))
            .Take(population)
            .ToArray();
        return Shuffled(lexicographic, seed);
    }

    /// <summary>
    /// <paramref name="items"/> shuffled in place by a generator seeded with <paramref name="seed"/>: Fisher-Yates
    /// written out (not Random.Shuffle) so the draw cannot change with a .NET release.
    /// </summary>
    private static T[] Shuffled<T>(T[] items, int seed)
    {
        var random = new Random(seed);
        for (var i = items.Length - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
        return items;
    }
}
