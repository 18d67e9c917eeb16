using System.Diagnostics;
using System.Text.Json.Nodes;
using PapaActors.Actors.Checkpoints;
using PapaActors.Actors.Configuration;
using PapaActors.Models.Data;
using PapaActors.Models.Nets;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;
using PapaActors.Tests.Support;
using Xunit.Abstractions;

namespace PapaActors.Tests.Actors.Checkpoints;

/// <summary>The checkpoint store on real files: round trips, damage, interrupted writes, pruning, identity.</summary>
public sealed class CheckpointStoreTests(ITestOutputHelper output) : IDisposable
{
    private static readonly WeightLayout Layout = new([
        new WeightEntry("fc.weight", [2, 3], WeightKind.Parameter),
        new WeightEntry("fc.bias", [2], WeightKind.Parameter),
        new WeightEntry("bn.running_mean", [2], WeightKind.Buffer),
        new WeightEntry("bn.num_batches_tracked", [], WeightKind.Counter),
    ]);

    private static readonly WeightLayout OptimizerLayout = new([
        new WeightEntry("fc.weight.momentum_buffer", [2, 3], WeightKind.Buffer),
        new WeightEntry("fc.bias.momentum_buffer", [2], WeightKind.Buffer),
    ]);

    private static readonly WeightLayout Empty = new([]);
    private static readonly CheckpointIdentity Identity = RunConfig.Load(null, []).Identity;

    private readonly TempFolder _run = new();

    public void Dispose() => _run.Dispose();

    private CheckpointStore Store() => new(_run.Path);

    /// <summary>Two members, distinct per round; member 1 has a fresh (empty) optimizer.</summary>
    private static Checkpoint Sample(int round, float seed = 0)
    {
        float[] Values(int count, float offset) => Enumerable.Range(0, count).Select(i => seed + offset + i * 0.1f + round).ToArray();
        var weights0 = Values(11, 0);
        weights0[^1] = 37 + round; // num_batches_tracked: a whole number
        weights0[0] = -0.0f;
        weights0[1] = float.Epsilon;
        weights0[2] = float.NaN;
        var weights1 = Values(11, 100);
        weights1[^1] = 12;
        return new Checkpoint(round, Samples: 1000L * round + 7, TrainingSeconds: round * 1.2345678901234567,
            JournalBytes: 300 + round, MetricsBytes: 4000 + round,
            [
                new MemberState(0, Step: 50L * round, WeightSnapshot.FromOwned(Layout, weights0), WeightSnapshot.FromOwned(OptimizerLayout, Values(8, 0.5f))),
                new MemberState(1, Step: 50L * round + 1, WeightSnapshot.FromOwned(Layout, weights1), new WeightSnapshot(Empty, [])),
            ]);
    }

    private static void AssertSame(Checkpoint expected, Checkpoint actual)
    {
        Assert.Equal(expected.Round, actual.Round);
        Assert.Equal(expected.Samples, actual.Samples);
        Assert.Equal(BitConverter.DoubleToInt64Bits(expected.TrainingSeconds), BitConverter.DoubleToInt64Bits(actual.TrainingSeconds));
        Assert.Equal(expected.JournalBytes, actual.JournalBytes);
        Assert.Equal(expected.MetricsBytes, actual.MetricsBytes);
        Assert.Equal(expected.Members.Count, actual.Members.Count);
        foreach (var (e, a) in expected.Members.Zip(actual.Members))
        {
            Assert.Equal(e.Member, a.Member);
            Assert.Equal(e.Step, a.Step);
            AssertSame(e.Weights, a.Weights);
            AssertSame(e.Optimizer, a.Optimizer);
        }
    }

    private static void AssertSame(WeightSnapshot expected, WeightSnapshot actual)
    {
        Assert.Equal(expected.Layout.Fingerprint, actual.Layout.Fingerprint);
        Assert.Equal(expected.Values.Select(BitConverter.SingleToInt32Bits), actual.Values.Select(BitConverter.SingleToInt32Bits));
    }

    private Checkpoint LoadLatest(out CheckpointSearch search)
    {
        search = Store().FindLatestValid();
        Assert.NotNull(search.Latest);
        return Store().Load(search.Latest, Identity);
    }

    private string RoundFolder(int round) => Path.Combine(_run.Path, "checkpoints", CheckpointStore.RoundName(round));

    [Fact]
    public void AWrittenCheckpointLoadsBackBitForBit()
    {
        var checkpoint = Sample(3);
        var written = Store().Write(checkpoint, Identity);

        var loaded = LoadLatest(out var search);

        AssertSame(checkpoint, loaded);
        Assert.Empty(search.Problems);
        Assert.Equal(RoundFolder(3), written.Folder);
        Assert.Equal(
            ["manifest.json", "member-0.optimizer.safetensors", "member-0.safetensors", "member-1.safetensors"],
            Directory.GetFiles(written.Folder).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(Directory.GetFiles(written.Folder).Sum(f => new FileInfo(f).Length), written.Bytes);
        Assert.Matches(@"^checkpoint round 3: \d+(\.\d)? kB in \d+ ms$", written.ToString());
    }

    [Fact]
    public void TheManifestDescribesEveryFileAndLayoutWithoutNeedingAModel()
    {
        var written = Store().Write(Sample(3), Identity);

        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(written.Folder, "manifest.json")))!;
        Assert.Equal("papa-checkpoint", (string?)manifest["format"]);
        Assert.Equal(2, (int?)manifest["version"]);
        Assert.Matches("^[0-9a-f]{64}$", (string?)manifest["manifest_sha256"]);
        Assert.Equal(3007, (long?)manifest["samples"]);
        Assert.Equal(Identity.ConfigFingerprint, (string?)manifest["identity"]!["config_fingerprint"]);
        var member0 = manifest["members"]![0]!;
        Assert.Equal("member-0.safetensors", (string?)member0["weights"]!["file"]);
        Assert.Equal(64, ((string?)member0["weights"]!["sha256"])!.Length);
        Assert.Equal("Counter", (string?)member0["weights"]!["layout"]![3]!["kind"]);
        Assert.Equal("fc.bias.momentum_buffer", (string?)member0["optimizer"]!["layout"]![1]!["name"]);
        Assert.Null(manifest["members"]![1]!["optimizer"]!["file"]);
    }

    [Fact]
    public void TheNewestValidCheckpointIsChosen()
    {
        foreach (var round in new[] { 2, 10, 4 })
            Store().Write(Sample(round), Identity);

        var loaded = LoadLatest(out var search);

        Assert.Equal(10, loaded.Round);
        Assert.Empty(search.Problems);
    }

    [Fact]
    public void AFlippedByteInAWeightsFileIsFoundAndThePreviousCheckpointLoaded()
    {
        Store().Write(Sample(1), Identity);
        Store().Write(Sample(2), Identity);
        var damaged = Path.Combine(RoundFolder(2), "member-1.safetensors");
        var bytes = File.ReadAllBytes(damaged);
        bytes[^3] ^= 0x01;
        File.WriteAllBytes(damaged, bytes);

        var loaded = LoadLatest(out var search);

        AssertSame(Sample(1), loaded);
        var problem = Assert.Single(search.Problems);
        Assert.StartsWith("checkpoints/round-000002: member-1.safetensors does not match its SHA-256", problem);
        Assert.EndsWith("; skipped", problem);
    }

    [Fact]
    public void ACheckpointWithoutItsManifestOrWithATruncatedFileIsSkipped()
    {
        Store().Write(Sample(1), Identity);
        Store().Write(Sample(2), Identity);
        Store().Write(Sample(3), Identity);
        File.Delete(Path.Combine(RoundFolder(3), "manifest.json"));
        var truncated = Path.Combine(RoundFolder(2), "member-0.optimizer.safetensors");
        File.WriteAllBytes(truncated, File.ReadAllBytes(truncated)[..^1]);

        var loaded = LoadLatest(out var search);

        Assert.Equal(1, loaded.Round);
        Assert.Equal(2, search.Problems.Count);
        Assert.Equal("checkpoints/round-000003: manifest.json is missing (the write was interrupted); skipped", search.Problems[0]);
        Assert.Contains("checkpoints/round-000002: member-0.optimizer.safetensors has", search.Problems[1]);
    }

    [Fact]
    public void AnUnreadableManifestIsSkipped()
    {
        Store().Write(Sample(1), Identity);
        Store().Write(Sample(2), Identity);
        File.WriteAllText(Path.Combine(RoundFolder(2), "manifest.json"), "{\"format\": \"papa-checkpoint\", ");

        var loaded = LoadLatest(out var search);

        Assert.Equal(1, loaded.Round);
        Assert.StartsWith("checkpoints/round-000002: manifest.json is not readable", Assert.Single(search.Problems));
    }

    [Fact]
    public void APartialFolderIsIgnoredAndRemovedByTheNextWrite()
    {
        Store().Write(Sample(1), Identity);
        Store().Write(Sample(2), Identity);
        Directory.Move(RoundFolder(2), RoundFolder(2) + ".partial"); // complete files, but never renamed into place

        var loaded = LoadLatest(out var search);

        Assert.Equal(1, loaded.Round);
        Assert.Equal("checkpoints/round-000002.partial: an interrupted write; ignored", Assert.Single(search.Problems));

        Store().Write(Sample(5), Identity);
        Assert.False(Directory.Exists(RoundFolder(2) + ".partial"));
    }

    [Fact]
    public void WritingARoundAgainReplacesIt()
    {
        Store().Write(Sample(4), Identity);
        Store().Write(Sample(4, seed: 0.25f), Identity);

        AssertSame(Sample(4, seed: 0.25f), LoadLatest(out _));
        Assert.Equal([CheckpointStore.RoundName(4)], Directory.GetDirectories(Path.Combine(_run.Path, "checkpoints")).Select(Path.GetFileName));
    }

    [Fact]
    public void ACrashBetweenTheRenamesOfAReplacementStillLeavesTheRound()
    {
        Store().Write(Sample(4), Identity);
        // The state after moving the old round aside and before renaming the new one in.
        Directory.Move(RoundFolder(4), RoundFolder(4) + ".replaced");
        Directory.CreateDirectory(RoundFolder(4) + ".partial");

        AssertSame(Sample(4), LoadLatest(out _));

        Store().Write(Sample(4, seed: 1), Identity);
        AssertSame(Sample(4, seed: 1), LoadLatest(out var search));
        Assert.Empty(search.Problems);
        Assert.Equal([CheckpointStore.RoundName(4)], Directory.GetDirectories(Path.Combine(_run.Path, "checkpoints")).Select(Path.GetFileName));
    }

    [Fact]
    public void PruneKeepsTheNewestCheckpointsAndRemovesLeftovers()
    {
        var store = Store();
        for (var round = 1; round <= 5; round++)
            store.Write(Sample(round), Identity);
        Directory.CreateDirectory(RoundFolder(9) + ".partial");

        var removed = store.Prune(keep: 2);

        Assert.Equal(4, removed.Count);
        Assert.Equal(["round-000004", "round-000005"],
            Directory.GetDirectories(store.Folder).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(5, LoadLatest(out _).Round);
    }

    [Fact]
    public void PruneNeverRemovesTheCheckpointJustWritten()
    {
        var store = Store();
        store.Write(Sample(8), Identity);
        store.Write(Sample(9), Identity);
        // A rollback or resume went back before round 8 and writes round 3 again.
        store.Write(Sample(3), Identity);

        store.Prune(keep: 1);

        Assert.Equal(["round-000003", "round-000009"],
            Directory.GetDirectories(store.Folder).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void LoadingWithAnotherConfigurationSaysSoAndWhatToDo()
    {
        Store().Write(Sample(1), Identity);
        var other = RunConfig.Load(null, ["rho=0.9"]).Identity;

        var error = Assert.Throws<CheckpointException>(() => Store().Load(Store().FindLatestValid().Latest!, other));

        Assert.Contains("checkpoints/round-000001 was written with a different configuration", error.Message);
        Assert.Contains("start a new run", error.Message);
        Assert.DoesNotContain("build", error.Message);
    }

    [Fact]
    public void LoadingWithAnotherCodeVersionSaysSoAndWhatToDo()
    {
        Store().Write(Sample(1), Identity with { CodeVersion = "models 0000, torchsharp 0.0.1" });

        var error = Assert.Throws<CheckpointException>(() => Store().Load(Store().FindLatestValid().Latest!, Identity));

        Assert.Contains("checkpoints/round-000001 was written by a different build of the numerical code (models 0000, torchsharp 0.0.1;", error.Message);
        Assert.Contains("resume with the build that wrote it", error.Message);
        Assert.DoesNotContain("configuration", error.Message);
    }

    [Fact]
    public void TheConfigFingerprintIgnoresSettingsThatOnlyAffectOperation()
    {
        static string Fingerprint(params string[] overrides) =>
            RunConfig.Load(null, overrides).Identity.ConfigFingerprint;

        var defaults = Fingerprint();
        Assert.Equal(defaults, Fingerprint("checkpoint.keep=5", "checkpoint.every-epochs=0.5", "round-timeout=1m",
            "replacement-timeout=2m", "on-member-loss=fail", "max-restarts=9", "fault-injection.throw-member=1",
            "transfer.stream-above=1MiB", "save-members=on", "akka.cluster.split-brain-resolver.stable-after=3s"));
        Assert.NotEqual(defaults, Fingerprint("seed=2"));
        Assert.NotEqual(defaults, Fingerprint("on-divergence=reset"));
        Assert.Matches("^[0-9a-f]{64}$", defaults);
        Assert.Contains(typeof(WeightSnapshot).Assembly.ManifestModule.ModuleVersionId.ToString("N"), Identity.CodeVersion);
    }

    [Fact]
    public void AFailedWriteRaisesACheckpointExceptionAndKeepsThePreviousCheckpoint()
    {
        Store().Write(Sample(1), Identity);
        // Running as root, permissions do not stop writes; a file where the folder must go does.
        File.WriteAllText(RoundFolder(2) + ".partial", "in the way");

        var error = Assert.Throws<CheckpointException>(() => Store().Write(Sample(2), Identity));

        Assert.Contains(RoundFolder(2), error.Message);
        Assert.IsAssignableFrom<IOException>(error.InnerException);
        AssertSame(Sample(1), LoadLatest(out _));
        Assert.False(Directory.Exists(RoundFolder(2)));
    }

    [Fact]
    public void AWriteIntoARunFolderThatCannotHoldCheckpointsRaisesACheckpointException()
    {
        File.WriteAllText(Path.Combine(_run.Path, "checkpoints"), "a file, not a folder");

        var error = Assert.Throws<CheckpointException>(() => Store().Write(Sample(1), Identity));

        Assert.StartsWith($"could not write checkpoint {RoundFolder(1)}: ", error.Message);
    }

    [Fact]
    public void AModelSizedCheckpointIsWrittenAndReadInReasonableTime()
    {
        using var model = ModelZoo.Create("cnn", new ImageShape(1, 28, 28), 10, 1.0, initSeed: 1);
        var weights = new ModelState(model).Capture();
        var optimizerLayout = new WeightLayout(weights.Layout.Entries
            .Where(e => e.Kind == WeightKind.Parameter)
            .Select(e => new WeightEntry(e.Name + ".momentum_buffer", e.Shape, WeightKind.Buffer)).ToList());
        var random = new Random(1);
        var members = Enumerable.Range(0, 4).Select(m => new MemberState(m, 1234,
            new WeightSnapshot(weights.Layout, [.. weights.Values.Select(v => v + m)]),
            new WeightSnapshot(optimizerLayout, [.. Enumerable.Range(0, (int)optimizerLayout.TotalLength).Select(_ => random.NextSingle())]))).ToList();
        var checkpoint = new Checkpoint(12, 60_000, 41.5, 1024, 2048, members);

        var written = Store().Write(checkpoint, Identity);
        var watch = Stopwatch.StartNew();
        var search = Store().FindLatestValid();
        var found = watch.Elapsed.TotalMilliseconds;
        var loaded = Store().Load(search.Latest!, Identity);
        var read = watch.Elapsed.TotalMilliseconds;

        output.WriteLine($"{written}; find (hash check) {found:0} ms, find + load {read:0} ms");
        AssertSame(checkpoint, loaded);
    }
}
