using Akka.Configuration;
using PapaActors.Models.Data;
using PapaActors.Models.Nets;
using PapaActors.Models.Training;

namespace PapaActors.Actors.Configuration;

/// <summary>A run's whole validated configuration (the `papa` section).</summary>
/// <param name="AlignSoups">Members are permuted to match member 0 by weight matching before the soups are made.</param>
public sealed record PapaSettings(
    int Population,
    MixingSettings Mixing,
    TrainingSettings Training,
    DatasetSpec Dataset,
    bool SoupRecomputesBatchNorm,
    IReadOnlyList<string> Devices,
    int TorchThreads,
    int SyncEverySteps,
    TimeSpan RoundTimeout,
    bool SaveMembers,
    TransferSettings Transfer,
    FaultSettings Faults,
    SecretSettings Secret,
    MetricsSettings Metrics,
    bool AlignSoups = false)
{
    public MixingMethod Method => Mixing.Method;
    public int Epochs => Training.Epochs;
    public long Seed => Training.Seed;

    /// <summary>Reads and validates every key; the first bad one raises a <see cref="ConfigException"/> naming it.</summary>
    public static PapaSettings FromConfig(Config config)
    {
        PapaConfig.Validate(config);
        // Akka refuses a config as its own fallback, which an empty user config would be.
        var read = new SettingsReader(ReferenceEquals(config, PapaConfig.Defaults) ? config : config.WithFallback(PapaConfig.Defaults));
        // The keys are read in one fixed order, so the same bad config always names the same key.
        var seed = read.Long("seed", 0);
        var dataset = read.Choice("dataset", DatasetSpec.Names);
        var method = MixingMethods.Parse(read.Choice("method", MixingMethods.Names));
        var training = ReadTraining(read, seed, dataset, method);
        var spec = ReadDataset(read, dataset, seed);
        var mixing = ReadMixing(read, method);
        return new PapaSettings(
            Population: read.Int("population", 1, 4096),
            Mixing: mixing,
            Training: training,
            Dataset: spec,
            SoupRecomputesBatchNorm: read.Choice("batchnorm.soup", ["average", "reset"]) == "reset",
            Devices: read.List("devices", IsDeviceName, "cpu or cuda:N"),
            TorchThreads: read.Int("torch-threads", 0, 1024),
            SyncEverySteps: read.Int("sync-every-steps", 1),
            RoundTimeout: read.Duration("round-timeout", positive: true),
            SaveMembers: read.Bool("save-members"),
            Transfer: TransferSettings.Read(read),
            Faults: ReadFaults(read),
            Secret: ReadSecret(read),
            Metrics: ReadMetrics(read, method, spec),
            AlignSoups: read.Choice("align", ["none", "weight-matching"]) == "weight-matching");
    }

    /// <summary>`papa.cluster`: the secret file exists, or is empty (then the secret, if any, is in PAPA_CLUSTER_SECRET).</summary>
    private static SecretSettings ReadSecret(SettingsReader read)
    {
        var file = read.OptionalText("cluster.secret-file");
        if (file.Length > 0 && !File.Exists(file))
            throw new ConfigException($"'papa.cluster.secret-file' = '{PapaConfig.Clip(file)}' is not allowed: no such file");
        return new SecretSettings(file.Length == 0 ? null : file, read.Duration("cluster.prove-within", positive: true));
    }

    private static TrainingSettings ReadTraining(SettingsReader read, long seed, string dataset, MixingMethod method)
    {
        var repair = ReadRepair(read, method);
        var training = new TrainingSettings(
            Model: read.Choice("model", ModelZoo.Names),
            ModelWidth: read.Double("model-width", 0, 64, minExclusive: true),
            BatchSize: read.Int("batch-size", 1, 1 << 16),
            Epochs: read.Int("epochs", 1, 100_000),
            Optimizer: ReadOptimizer(read),
            Variations: new VariationLists(
                Mixup: read.Numbers("variations.mixup", 0, 100),
                Cutmix: read.Numbers("variations.cutmix", 0, 100),
                LabelSmoothing: read.Numbers("variations.label-smoothing", 0, 0.99),
                RandomErasing: read.Numbers("variations.random-erasing", 0, 1)),
            Augmentation: BaseAugmentation.Parse(read.Choice("augmentation", BaseAugmentation.Names), dataset, read.Int("crop-padding", 0, 64)),
            EvalBatchSize: read.Int("eval-batch-size", 0, 1 << 20) is > 0 and var evalBatch ? evalBatch : read.Int("batch-size", 1, 1 << 16),
            BatchNormResetBatches: read.Int("batchnorm.reset-batches", 0, 100_000),
            SameInit: read.Bool("same-init"),
            Repair: repair,
            MixRecomputesBatchNorm: read.Choice("batchnorm.mix", ["average", "reset"]) == "reset",
            ResetOptimizerOnMix: read.Bool("optimizer.reset-on-mix"),
            Seed: seed);
        if (training.Optimizer.MinLearningRate > training.Optimizer.LearningRate)
            throw new ConfigException($"'papa.optimizer.min-lr' ({training.Optimizer.MinLearningRate}) must not exceed 'papa.optimizer.lr' ({training.Optimizer.LearningRate})");
        if (training.Optimizer is { Nesterov: true, Name: "sgd", Momentum: 0 })
            throw new ConfigException("'papa.optimizer.nesterov' = on needs 'papa.optimizer.momentum' > 0");
        return training;
    }

    private static RepairSettings ReadRepair(SettingsReader read, MixingMethod method)
    {
        // auto: REPAIR where the reference runs it and it is cheap enough, after PAPA-all and PAPA-2 merges, not after
        // every PAPA push (a forward pass over the calibration batches per corrected layer, every ema-every-steps steps).
        var repairMixes = read.Choice("repair", ["auto", "on", "off"]) switch
        {
            "auto" => method is MixingMethod.PapaAll or MixingMethod.Papa2,
            var choice => choice == "on",
        };
        return new RepairSettings(repairMixes, read.Int("repair-batches", 1, 10_000), read.Bool("repair-linear"), read.Bool("repair-soup"));
    }

    private static MetricsSettings ReadMetrics(SettingsReader read, MixingMethod method, DatasetSpec dataset)
    {
        // auto: where a mix is rare enough for two held-out passes per member to be cheap (not PAPA's push every few steps).
        var mixGain = read.Choice("metrics.mix-gain", ["auto", "on", "off"]) switch
        {
            "auto" => method is MixingMethod.PapaAll or MixingMethod.Papa2 && dataset.HeldOutFraction > 0,
            var choice => choice == "on",
        };
        // Without a held-out split "held-out" means the whole training set: two passes over it per member per mix.
        if (mixGain && dataset.HeldOutFraction == 0)
            throw new ConfigException("'papa.metrics.mix-gain' = on needs a held-out split: set 'papa.held-out-fraction' > 0 (or mix-gain = auto | off)");
        return new MetricsSettings(mixGain, read.Int("metrics.mix-gain-every", 1), read.Bool("metrics.feature-similarity"),
            read.Int("metrics.feature-images", 2, 1 << 20));
    }

    private static OptimizerSettings ReadOptimizer(SettingsReader read) => new(
        Name: read.Choice("optimizer.name", OptimizerSettings.Names),
        LearningRate: read.Double("optimizer.lr", 0, 100, minExclusive: true),
        MinLearningRate: read.Double("optimizer.min-lr", 0, 100),
        Momentum: read.Double("optimizer.momentum", 0, 1),
        WeightDecay: read.Double("optimizer.weight-decay", 0, 1),
        Nesterov: read.Bool("optimizer.nesterov"),
        WarmupEpochs: read.Double("optimizer.warmup-epochs", 0, 100_000),
        Decay: read.Choice("lr-schedule", ["cosine", "multistep"]) == "multistep" ? LearningRateDecay.MultiStep : LearningRateDecay.Cosine,
        MilestoneFractions: Milestones(read),
        Gamma: read.Double("lr-gamma", 0, 1, minExclusive: true),
        ClipGradNorm: read.Double("optimizer.clip-grad", 0, 1e9));

    private static DatasetSpec ReadDataset(SettingsReader read, string dataset, long seed) => new(
        Name: dataset,
        Path: read.Text("data-dir"),
        HeldOutFraction: read.Double("held-out-fraction", 0, 0.5),
        Seed: (int)(seed & int.MaxValue),
        TrainLimit: read.Long("train-limit", 0),
        TestLimit: read.Long("test-limit", 0),
        SyntheticSize: read.Int("synthetic-size", 4, 256),
        ReferenceNormalization: read.Choice("normalization", ["reference", "computed"]) == "reference");

    private static MixingSettings ReadMixing(SettingsReader read, MixingMethod method)
    {
        var window = read.Numbers("merge-window", 0, 1, count: 2);
        if (window[0] > window[1])
            throw new ConfigException($"'papa.merge-window' = [{window[0]}, {window[1]}] is not allowed: the start must not be after the end");
        var mixing = new MixingSettings(
            Method: method,
            Rho: read.Double("rho", 0, 1),
            EmaEverySteps: read.Int("ema-every-steps", 1),
            EveryEpochs: read.Double("every-epochs", 0, 100_000, minExclusive: true),
            LinearLrScaling: read.Choice("lr-scaling", ["none", "linear"]) == "linear",
            MergeStart: window[0],
            MergeEnd: window[1],
            PushDelaySteps: read.Int("push-delay-steps", 0),
            MixFromStart: read.Bool("mix-from-start"),
            Pairing: Papa2Pairings.Parse(read.Choice("pairing", Papa2Pairings.Names)));
        if (mixing.PushDelaySteps > mixing.EmaEverySteps)
            throw new ConfigException($"'papa.push-delay-steps' = {mixing.PushDelaySteps} must be at most 'papa.ema-every-steps' = {mixing.EmaEverySteps}: a push is applied before the next is measured");
        if (mixing.PushDelaySteps > 0 && mixing.Method != MixingMethod.Papa)
            throw new ConfigException($"'papa.push-delay-steps' delays PAPA's pushes; method = {mixing.Method.Name()} replaces members at once (set it to 0)");
        return mixing;
    }

    private static FaultSettings ReadFaults(SettingsReader read) => new(
        CheckpointEveryEpochs: read.Double("checkpoint.every-epochs", 0, 100_000),
        CheckpointsKept: read.Int("checkpoint.keep", 1, 1000),
        RollbackOnMemberLoss: read.Choice("on-member-loss", ["rollback", "fail"]) == "rollback",
        MaxRestarts: read.Int("max-restarts", 0, 1000),
        ResetOnDivergence: read.Choice("on-divergence", ["fail", "reset"]) == "reset",
        ReplacementTimeout: read.Duration("replacement-timeout", positive: true),
        Injection: new FaultInjection(read.Int("fault-injection.throw-member", -1), read.Long("fault-injection.throw-at-step", 0),
            read.Int("fault-injection.throw-times", -1),
            read.Int("fault-injection.diverge-member", -1), read.Long("fault-injection.diverge-at-step", 0), read.Duration("fault-injection.checkpoint-pause"),
            read.OptionalText("fault-injection.throw-file")));

    private static IReadOnlyList<double> Milestones(SettingsReader read)
    {
        var milestones = read.Numbers("lr-milestones", 0, 1);
        for (var i = 1; i < milestones.Count; i++)
        {
            if (milestones[i] <= milestones[i - 1])
                throw new ConfigException($"'papa.lr-milestones' = [{string.Join(", ", milestones)}] is not allowed: the fractions must increase");
        }
        return milestones;
    }

    private static bool IsDeviceName(string name) =>
        name is "cpu" or "cuda" || (name.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(name.AsSpan(5), out var i) && i >= 0);
}
