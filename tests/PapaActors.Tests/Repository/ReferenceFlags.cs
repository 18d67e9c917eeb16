using System.Globalization;
using PapaActors.Actors.Configuration;
using PapaActors.Models.Training;

namespace PapaActors.Tests.Repository;

/// <summary>How a flag of the reference's main.py relates to this project's configuration.</summary>
public enum FlagKind
{
    /// <summary>The flag's value must be what our settings hold (<see cref="ReferenceFlag.Expect"/>).</summary>
    Key,
    /// <summary>We have no key for it and do something else: docs/method.md "Where we differ from the reference" names it.</summary>
    Difference,
    /// <summary>A feature not implemented here: a paper config may only mirror a run that leaves it at main.py's default.</summary>
    DefaultOnly,
    /// <summary>Where main.py writes results and how it loads data: no effect on what is trained.</summary>
    NoEffect,
}

/// <summary>One value our settings must hold for a reference run: the key, the value the run implies, the value resolved.</summary>
public sealed record Expectation(string Key, string Expected, string Actual);

/// <param name="Default">main.py's default (its argparse list at SamsungSAILMontreal/PAPA 47ad83a), as text.</param>
public sealed record ReferenceFlag(string Flag, string[] Default, FlagKind Kind, Func<ReferenceCommand, PapaSettings, IEnumerable<Expectation>>? Expect = null);

/// <summary>
/// A reference command line (the `myargs` of a paper script line): each flag with its values, main.py's default for a
/// flag it does not pass.
/// </summary>
public sealed class ReferenceCommand
{
    private readonly Dictionary<string, IReadOnlyList<string>> _passed;

    private ReferenceCommand(Dictionary<string, IReadOnlyList<string>> passed) => _passed = passed;

    public IReadOnlyCollection<string> Passed => _passed.Keys;

    /// <summary>Splits "--a 1 --b x y" into flags and their values (main.py's nargs='+' flags take several).</summary>
    public static ReferenceCommand Parse(string arguments)
    {
        var passed = new Dictionary<string, IReadOnlyList<string>>();
        List<string>? values = null;
        foreach (var token in arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (token.StartsWith("--", StringComparison.Ordinal))
                passed[token] = values = [];
            else
                (values ?? throw new FormatException($"'{token}' comes before any flag")).Add(token);
        }
        return new ReferenceCommand(passed);
    }

    public IReadOnlyList<string> Values(string flag) => _passed.TryGetValue(flag, out var values) ? values : ReferenceFlags.ByFlag[flag].Default;

    public string Text(string flag) => Values(flag) is [var single] ? single : throw new FormatException($"{flag} takes one value, not [{string.Join(" ", Values(flag))}]");

    public double Number(string flag) => double.Parse(Text(flag), CultureInfo.InvariantCulture);

    public IReadOnlyList<double> Numbers(string flag) => Values(flag).Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToList();

    /// <summary>main.py's str2bool.</summary>
    public bool Bool(string flag) => Text(flag).ToLowerInvariant() switch
    {
        "yes" or "true" or "t" or "y" or "1" => true,
        "no" or "false" or "f" or "n" or "0" => false,
        var other => throw new FormatException($"{flag} {other} is not a boolean"),
    };

    /// <summary>Our method for this run: --ema_alpha below 1 is PAPA (main.py then skips every merge), else --method_comb.</summary>
    public MixingMethod? Method => Number("--ema_alpha") != 1.0
        ? MixingMethod.Papa
        : Text("--method_comb") switch
        {
            "none" => MixingMethod.None,
            "avg" => MixingMethod.PapaAll,
            "pair_half" => MixingMethod.Papa2,
            _ => null, // pair_75, many_half, many_75, greedy_soup, random: no method here
        };

    public bool Merges => Method is MixingMethod.PapaAll or MixingMethod.Papa2;
}

/// <summary>
/// Every flag of the reference's main.py (SamsungSAILMontreal/PAPA at 47ad83a, its argparse list read by hand), with its
/// default and the key of ours it maps to. PaperConfigHeaderTests checks each hocon/paper/ config against the command
/// line its header quotes, main.py's defaults filling in what that line does not pass.
/// </summary>
public static class ReferenceFlags
{
    public static readonly IReadOnlyList<ReferenceFlag> All =
    [
        new("--results_file", ["/scratch/jolicoea/recombine_nets/final_results.txt"], FlagKind.NoEffect),
        Key("--EPOCHS", ["300"], (c, s) => [Expect("epochs", c.Number("--EPOCHS"), s.Epochs)]),
        Key("--n_pop", ["2"], (c, s) => [Expect("population", c.Number("--n_pop"), s.Population)]),
        Key("--seed", ["1"], (c, s) => [Expect("seed", c.Number("--seed"), s.Seed)]),
        // VGG11, VGG16, Resnet18, resnet20: our names are the lower-case ones.
        Key("--model_name", ["VGG11"], (c, s) => [Expect("model", c.Text("--model_name").ToLowerInvariant(), s.Training.Model)]),
        Key("--data", ["cifar10"], (c, s) => [Expect("dataset", c.Text("--data"), s.Dataset.Name)]),
        Key("--val_perc", ["0.02"], (c, s) => [Expect("held-out-fraction", c.Number("--val_perc"), s.Dataset.HeldOutFraction)]),
        new("--pin_memory", ["True"], FlagKind.NoEffect),
        new("--num_workers", ["4"], FlagKind.NoEffect),
        new("--mixed_precision", ["True"], FlagKind.Difference),
        new("--grad_scaler", ["True"], FlagKind.Difference),
        Key("--ema_alpha", ["1.0"], (c, s) => c.Method == MixingMethod.Papa ? [Expect("rho", c.Number("--ema_alpha"), s.Mixing.Rho)] : []),
        Key("--ema_every_k", ["10"], (c, s) => [Expect("ema-every-steps", c.Number("--ema_every_k"), s.Mixing.EmaEverySteps)]),
        // Only PAPA's push is scaled; main.py has sqrt too, which we do not.
        Key("--lr_scaling", ["linear"], (c, s) => c.Method == MixingMethod.Papa
            ? [Expect("lr-scaling", c.Text("--lr_scaling"), s.Mixing.LinearLrScaling ? "linear" : "none")]
            : []),
        Key("--every_k_epochs", ["5"], (c, s) => [Expect("every-epochs", c.Number("--every_k_epochs"), s.Mixing.EveryEpochs)]),
        Key("--method_comb", ["avg"], (c, s) => [Expect("method", c.Method?.Name() ?? $"(none for {c.Text("--method_comb")})", s.Method.Name())]),
        Key("--same_init", ["False"], (c, s) => [Expect("same-init", c.Bool("--same_init"), s.Training.SameInit)]),
        Key("--mix_from_start", ["True"], (c, s) => [Expect("mix-from-start", c.Bool("--mix_from_start"), s.Mixing.MixFromStart)]),
        // main.py limits only its merges (PAPA-all, PAPA-2) by it; ours limits every method's mixes.
        Key("--range_merge", ["0", "1"], (c, s) => [Expect("merge-window", c.Merges ? c.Numbers("--range_merge") : [0.0, 1.0], new[] { s.Mixing.MergeStart, s.Mixing.MergeEnd })]),
        Key("--mixup", ["0.0"], (c, s) => [Expect("variations.mixup", c.Numbers("--mixup"), s.Training.Variations.Mixup)]),
        Key("--smooth", ["0.0"], (c, s) => [Expect("variations.label-smoothing", c.Numbers("--smooth"), s.Training.Variations.LabelSmoothing)]),
        Key("--cutmix", ["0.0"], (c, s) => [Expect("variations.cutmix", c.Numbers("--cutmix"), s.Training.Variations.Cutmix)]),
        Key("--re", ["0.0"], (c, s) => [Expect("variations.random-erasing", c.Numbers("--re"), s.Training.Variations.RandomErasing)]),
        // models/combined.py builds torch.optim.SGD(lr, momentum, weight_decay): no Nesterov.
        Key("--optim", ["sgd"], (c, s) => c.Text("--optim") == "sgd"
            ? [Expect("optimizer.name", "sgd", s.Training.Optimizer.Name), Expect("optimizer.nesterov", false, s.Training.Optimizer.Nesterov)]
            : [Expect("optimizer.name", c.Text("--optim"), s.Training.Optimizer.Name)]),
        Key("--wd", ["1e-4"], (c, s) => [Expect("optimizer.weight-decay", c.Number("--wd"), s.Training.Optimizer.WeightDecay)]),
        Key("--clip_grad", ["0"], (c, s) => [Expect("optimizer.clip-grad", c.Number("--clip_grad"), s.Training.Optimizer.ClipGradNorm)]),
        Key("--batch_size", ["64"], (c, s) => [Expect("batch-size", c.Number("--batch_size"), s.Training.BatchSize)]),
        Key("--momentum", ["0.9"], (c, s) => [Expect("optimizer.momentum", c.Number("--momentum"), s.Training.Optimizer.Momentum)]),
        // utils/schedule.py has no warm-up: the schedule starts at --lr.
        Key("--lr", ["0.1"], (c, s) => [Expect("optimizer.lr", c.Number("--lr"), s.Training.Optimizer.LearningRate),
            Expect("optimizer.warmup-epochs", 0.0, s.Training.Optimizer.WarmupEpochs)]),
        Key("--lr_min", ["0.0001"], (c, s) => [Expect("optimizer.min-lr", c.Number("--lr_min"), s.Training.Optimizer.MinLearningRate)]),
        Key("--lr_scheduler", ["cosine"], (c, s) => [Expect("lr-schedule", c.Text("--lr_scheduler") switch
        {
            "cosine" => "cosine",
            "multisteplr" => "multistep",
            var other => $"(none for {other})",
        }, s.Training.Optimizer.Decay == LearningRateDecay.MultiStep ? "multistep" : "cosine")]),
        Key("--multisteplr_mile", [".5", ".75"], (c, s) => [Expect("lr-milestones", c.Numbers("--multisteplr_mile"), s.Training.Optimizer.Milestones)]),
        Key("--multisteplr_gamma", ["0.1"], (c, s) => [Expect("lr-gamma", c.Number("--multisteplr_gamma"), s.Training.Optimizer.Gamma)]),
        new("--seperate_optim", ["True"], FlagKind.DefaultOnly),
        new("--timm_models", ["False"], FlagKind.DefaultOnly),
        new("--finetune", ["False"], FlagKind.DefaultOnly),
        new("--linear_prob_time", ["0.04"], FlagKind.DefaultOnly),
        // main.py REPAIRs after its merges; PAPA's pushes (--ema_alpha < 1) and `none` make none.
        Key("--repair", ["True"], (c, s) => [Expect("repair (after mixes)", c.Bool("--repair") && c.Merges, s.Training.Repair.Enabled)]),
        Key("--repair_soup", ["False"], (c, s) => [Expect("repair-soup", c.Bool("--repair_soup"), s.Training.Repair.Soups)]),
        Key("--n_iter", ["5"], (c, s) => [Expect("repair-batches", c.Number("--n_iter"), s.Training.Repair.Batches)]),
        new("--tournament_pairwise", ["False"], FlagKind.DefaultOnly),
        new("--selection", ["False"], FlagKind.DefaultOnly),
        new("--elitism_p", ["0.60"], FlagKind.DefaultOnly),
        new("--n_children_per_parent", ["6"], FlagKind.DefaultOnly),
        new("--elitism_maxiter", ["99999"], FlagKind.DefaultOnly),
        new("--mutation_sigma", ["0.0"], FlagKind.DefaultOnly),
        new("--mutation_normalize", ["False"], FlagKind.DefaultOnly),
        // main.py aligns by feature matching; we align by weight matching (a named difference too).
        new("--permutation", ["False"], FlagKind.Difference, (c, s) => [Expect("align", c.Bool("--permutation") ? "weight-matching" : "none",
            s.AlignSoups ? "weight-matching" : "none")]),
        new("--n_iter_matching", ["9999"], FlagKind.Difference),
        new("--correlation_est", ["False"], FlagKind.DefaultOnly),
        new("--test", ["False"], FlagKind.DefaultOnly),
        new("--world_size", ["1"], FlagKind.DefaultOnly),
    ];

    public static readonly IReadOnlyDictionary<string, ReferenceFlag> ByFlag = All.ToDictionary(f => f.Flag);

    private static ReferenceFlag Key(string flag, string[] defaults, Func<ReferenceCommand, PapaSettings, IEnumerable<Expectation>> expect) =>
        new(flag, defaults, FlagKind.Key, expect);

    private static Expectation Expect(string key, object expected, object actual) => new(key, Format(expected), Format(actual));

    private static string Format(object value) => value switch
    {
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        int or long => Convert.ToDouble(value, CultureInfo.InvariantCulture).ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "on" : "off",
        IEnumerable<double> list => $"[{string.Join(", ", list.Select(d => Format(d)))}]",
        _ => value.ToString() ?? "",
    };
}
