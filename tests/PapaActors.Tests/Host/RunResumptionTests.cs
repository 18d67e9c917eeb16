using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using PapaActors.Actors.Checkpoints;
using PapaActors.Models.Weights;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Host;

/// <summary>
/// A tiny run, completed in this process, with checkpoints at rounds 1, 3 and 5; each test resumes an edited copy
/// of it (its results.json removed, so it counts as interrupted).
/// </summary>
public sealed class CheckpointedRun : IDisposable
{
    private readonly TempFolder _folder = new();

    public CheckpointedRun()
    {
        Folder = _folder.File("run");
        var result = Cli.RunInProcess(["run", .. CommandLineTests.Tiny, "--set", "epochs=4", "--set", "checkpoint.every-epochs=1",
            "--set", "checkpoint.keep=5", "--out", Folder]);
        if (result.ExitCode != 0)
            throw new InvalidOperationException(result.Output);
    }

    /// <summary>The completed run: what a resumed copy must end as, bit for bit.</summary>
    public string Folder { get; }

    /// <summary>A copy of the run as if interrupted after its last checkpoint.</summary>
    public string Interrupted(TempFolder into)
    {
        var copy = into.File("run");
        foreach (var directory in Directory.GetDirectories(Folder, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(directory.Replace(Folder, copy));
        foreach (var file in Directory.GetFiles(Folder, "*", SearchOption.AllDirectories))
            File.Copy(file, file.Replace(Folder, copy));
        File.Delete(Path.Combine(copy, "results.json"));
        return copy;
    }

    public void Dispose() => _folder.Dispose();
}

/// <summary>
/// Files from outside a run: crafted checkpoints, run folder files that are links or FIFOs, dataset files that are
/// not regular files or cannot be read. A crafted checkpoint is skipped with its reason and the previous one is
/// resumed (bit-identical to the uninterrupted run); any other crafted file is one `error:` line naming it, exit
/// code 2, nothing written outside the run folder; nothing hangs.
/// </summary>
[Trait("Category", "Slow")]
public sealed class RunResumptionTests(CheckpointedRun run) : IClassFixture<CheckpointedRun>
{
    private const string Newest = "checkpoints/round-000005";

    /// <summary>A row: how the newest checkpoint (round 5) is crafted, and the reason it must be skipped for.</summary>
    public static TheoryData<string, string> CraftedCheckpoints => new()
    {
        // a flipped digit: the length falls inside a journal line (the lines are about 100 bytes)
        { "journal_bytes - 30", "journal_bytes {0} does not end a line of schedule.jsonl" },
        { "journal_bytes of round 3", "the first {0} bytes of schedule.jsonl hold 3 rounds, a checkpoint of round 5 follows 5 rounds" },
        { "journal_bytes past the end", "journal_bytes {0} is outside schedule.jsonl" },
        { "metrics_bytes - 3", "metrics_bytes {0} does not end a line of metrics.csv" },
        { "samples + 9", "samples is 1629, 2 members x batch 30 x 27 steps are 1620" },
        { "step + 1", "member 1 is at step 28, the plan puts round 5 at step 27" },
        { "member missing", "it holds members 0, the population is 2" },
        { "edited, not resealed", "manifest.json is not readable: it does not match its own SHA-256 (manifest_sha256)" },
        { "shape [2^33]", "manifest.json is not readable: a layout of 85899" },
        { "shape [2^31, 1, 3, 3] in manifest and file", "manifest.json is not readable: a layout of 193273" },
        { "shape [16, 1, 3, 4] in the manifest", "member-0.safetensors: 'features.0.weight' has shape [16,1,3,3], expected [16, 1, 3, 4]" },
        // manifest and file agree, and the data is as long as the run's: only the model's own layout tells
        { "shape [8, 2, 3, 3] in manifest and file",
            "the weights of member 0 do not fit the model: 'features.0.weight' is Parameter [8, 2, 3, 3], expected Parameter [16, 1, 3, 3]" },
        // a small file whose tensors overlap claims more values than the run has: refused before they are allocated
        { "optimizer tensors repeated over the same data", "the optimizer state of member 0 has {0} values, more than the" },
        { "header claims 0x7ffffff0 bytes", "member-0.safetensors: the header claims 2147483632 bytes, there can be at most" },
        { "data offsets past the end", "member-0.safetensors: 'features.0.weight' has data offsets [0,99999999]" },
        { "weights a FIFO", "member-0.safetensors: a FIFO (named pipe), not a regular file" },
        { "weights a link to /dev/zero", "member-0.safetensors: a symbolic link, not a regular file" },
        { "manifest a FIFO", "manifest.json: a FIFO (named pipe), not a regular file" },
    };

    [Theory]
    [MemberData(nameof(CraftedCheckpoints))]
    public void ACraftedCheckpointIsSkippedWithItsReasonAndThePreviousOneResumed(string craft, string reason)
    {
        using var temp = new TempFolder();
        var folder = run.Interrupted(temp);
        var detail = Craft(folder, craft);

        var result = Cli.RunInProcess("resume", folder);

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains($"warning: {Newest}: {string.Format(reason, detail)}", result.Output);
        Assert.Contains($"resuming {folder} from the checkpoint of round 3", result.Output);
        RunFolders.AssertSameRun(run.Folder, folder);
    }

    [Theory]
    [InlineData("schedule.jsonl", "link")]
    [InlineData("metrics.csv", "link")]
    [InlineData("run.log", "link")]
    [InlineData("config.conf", "fifo")]
    [InlineData("schedule.jsonl", "fifo")]
    [InlineData("loss.png", "link")]
    [InlineData("soup-greedy.safetensors", "link")]
    [InlineData("papa.lock", "link")]
    [InlineData("faults.jsonl", "fifo")]
    public void AResumeRefusesARunFolderFileThatIsALinkOrAFifoAndWritesNothingThroughIt(string name, string kind)
    {
        using var temp = new TempFolder();
        var folder = run.Interrupted(temp);
        var file = Path.Combine(folder, name);
        var outside = temp.File("outside.txt");
        File.Copy(file, outside);
        File.Delete(file);
        if (kind == "link")
            File.CreateSymbolicLink(file, outside);
        else
            TempFolder.MakeFifo(file);
        var before = File.ReadAllBytes(outside);

        var result = Cli.RunInProcess("resume", folder);

        Cli.AssertRejected(result, $"{file}: {(kind == "link" ? "a symbolic link" : "a FIFO (named pipe)")}, not a regular file");
        Assert.Equal(before, File.ReadAllBytes(outside));
        Assert.False(File.Exists(Path.Combine(folder, "results.json")));
    }

    [Fact]
    public void AResumeRefusesACheckpointsFolderThatIsALinkAndWritesNothingThere()
    {
        using var temp = new TempFolder();
        var folder = run.Interrupted(temp);
        var checkpoints = Path.Combine(folder, "checkpoints");
        var outside = temp.File("outside");
        Directory.Move(checkpoints, outside);
        Directory.Delete(Path.Combine(outside, "round-000005"), recursive: true); // a resume from round 3 would write round 5
        Directory.CreateSymbolicLink(checkpoints, outside);

        var result = Cli.RunInProcess("resume", folder);

        Cli.AssertRejected(result, $"{checkpoints}: a symbolic link, not a directory");
        Assert.Equal(["round-000001", "round-000003"], Directory.GetFileSystemEntries(outside).Select(Path.GetFileName).Order());
    }

    /// <summary>A run folder's config.conf is read by replay and compare too: a FIFO there is named, never opened.</summary>
    [Theory]
    [InlineData("replay")]
    [InlineData("compare")]
    public void ReplayAndCompareRefuseAConfigConfThatIsAFifoWithoutReadingIt(string command)
    {
        using var temp = new TempFolder();
        var folder = run.Interrupted(temp);
        File.Copy(Path.Combine(run.Folder, "results.json"), Path.Combine(folder, "results.json"));
        var config = Path.Combine(folder, "config.conf");
        File.Delete(config);
        TempFolder.MakeFifo(config);

        var result = command == "replay" ? Cli.RunInProcess("replay", folder) : Cli.RunInProcess("compare", run.Folder, folder);

        Cli.AssertRejected(result, $"{config}: a FIFO (named pipe), not a regular file");
    }

    /// <summary>`papa compare` reads the run as written, and names a FIFO in place of another run's results.json instead of blocking on it.</summary>
    [Fact]
    public void CompareRefusesAResultsJsonThatIsAFifoWithoutReadingIt()
    {
        using var temp = new TempFolder();
        var folder = run.Interrupted(temp);
        var results = Path.Combine(folder, "results.json");
        TempFolder.MakeFifo(results);

        Cli.AssertRejected(Cli.RunInProcess("compare", run.Folder, folder), $"{results}: a FIFO (named pipe), not a regular file");
    }

    [Theory]
    [InlineData("mnist", "train-images-idx3-ubyte", "fifo", "a FIFO (named pipe), not a regular file")]
    [InlineData("mnist", "t10k-labels-idx1-ubyte", "directory", "a directory, not a regular file")]
    [InlineData("mnist", "train-labels-idx1-ubyte", "link to /dev/zero", "a character device, not a regular file")]
    // Permissions cannot be tested here: the tests run as root, whom chmod 000 does not stop. A real read error does
    // the same: /proc/self/mem is a regular file whose read at offset 0 fails with EIO.
    [InlineData("mnist", "train-images-idx3-ubyte", "link to /proc/self/mem", "cannot be read (")]
    [InlineData("cifar10", "data_batch_3.bin", "fifo", "a FIFO (named pipe), not a regular file")]
    [InlineData("cifar10", "test_batch.bin", "link to /proc/self/mem", "cannot be read (")]
    public void ADatasetFileThatIsNotARegularReadableFileIsNamedInOneLine(string dataset, string name, string kind, string problem)
    {
        using var temp = new TempFolder();
        var data = temp.File("data");
        Directory.CreateDirectory(data);
        if (dataset == "mnist")
            DataFiles.WriteMnistFolder(data, train: 40, test: 10, gzip: false);
        else
            DataFiles.WriteCifar10Folder(data, perFile: 10);
        var file = Path.Combine(data, name);
        File.Delete(file);
        switch (kind)
        {
            case "fifo":
                TempFolder.MakeFifo(file);
                break;
            case "directory":
                Directory.CreateDirectory(file);
                break;
            default:
                File.CreateSymbolicLink(file, kind["link to ".Length..]);
                break;
        }

        var result = Cli.RunInProcess(["run", .. CommandLineTests.Tiny, "--set", $"dataset={dataset}", "--set", $"data-dir={data}", "--out", temp.File("run")]);

        Cli.AssertRejected(result, $"{file}: {problem}");
    }

    /// <summary>Crafts the newest checkpoint of <paramref name="folder"/> as the row says; returns the number the reason names.</summary>
    private static long Craft(string folder, string craft)
    {
        var round = Path.Combine(folder, Newest);
        var weights = Path.Combine(round, "member-0.safetensors");
        var manifest = Manifest(folder, 5);
        switch (craft)
        {
            case "journal_bytes - 30":
                return Rewrite(round, manifest with { JournalBytes = manifest.JournalBytes - 30 }).JournalBytes;
            case "journal_bytes of round 3":
                return Rewrite(round, manifest with { JournalBytes = Manifest(folder, 3).JournalBytes }).JournalBytes;
            case "journal_bytes past the end":
                return Rewrite(round, manifest with { JournalBytes = new FileInfo(Path.Combine(folder, "schedule.jsonl")).Length + 1 }).JournalBytes;
            case "metrics_bytes - 3":
                return Rewrite(round, manifest with { MetricsBytes = manifest.MetricsBytes - 3 }).MetricsBytes;
            case "samples + 9":
                return Rewrite(round, manifest with { Samples = manifest.Samples + 9 }).Samples;
            case "step + 1":
                return Rewrite(round, manifest with { Members = [manifest.Members[0], manifest.Members[1] with { Step = manifest.Members[1].Step + 1 }] }).Round;
            case "member missing":
                return Rewrite(round, manifest with { Members = [manifest.Members[0]] }).Round;
            case "edited, not resealed":
                var text = File.ReadAllText(Path.Combine(round, "manifest.json"));
                File.WriteAllText(Path.Combine(round, "manifest.json"), text.Replace($"\"samples\": {manifest.Samples}", $"\"samples\": {manifest.Samples + 9}"));
                return 0;
            case "shape [2^33]":
                Rewrite(round, WithFirstShape(manifest, [1L << 33], allMembers: false));
                return 0;
            case "shape [2^31, 1, 3, 3] in manifest and file":
                var header = Header(weights);
                header["features.0.weight"]!["shape"] = new JsonArray(1L << 31, 1, 3, 3);
                WriteHeader(weights, header);
                Rewrite(round, Resealed(WithFirstShape(manifest, [1L << 31, 1, 3, 3], allMembers: true), round));
                return 0;
            case "shape [8, 2, 3, 3] in manifest and file":
                var reshaped = Header(weights);
                reshaped["features.0.weight"]!["shape"] = new JsonArray(8, 2, 3, 3);
                WriteHeader(weights, reshaped);
                Rewrite(round, Resealed(WithFirstShape(manifest, [8, 2, 3, 3], allMembers: false), round));
                return 0;
            case "optimizer tensors repeated over the same data":
                var optimizer = Path.Combine(round, "member-0.optimizer.safetensors");
                var tensors = Header(optimizer);
                var layout = manifest.Members[0].Optimizer.Layout;
                var copies = new[] { ".copy1", ".copy2" }.SelectMany(copy => layout.Entries.Select(e => e with { Name = e.Name + copy })).ToList();
                foreach (var copy in copies)
                    tensors[copy.Name] = tensors[copy.Name[..copy.Name.LastIndexOf('.')]]!.DeepClone();
                WriteHeader(optimizer, tensors);
                var repeated = new WeightLayout([.. layout.Entries, .. copies]);
                Rewrite(round, Resealed(manifest with
                {
                    Members = [manifest.Members[0] with { Optimizer = manifest.Members[0].Optimizer with { Layout = repeated } }, .. manifest.Members.Skip(1)],
                }, round));
                return repeated.TotalLength;
            case "shape [16, 1, 3, 4] in the manifest":
                Rewrite(round, WithFirstShape(manifest, [16, 1, 3, 4], allMembers: false));
                return 0;
            case "header claims 0x7ffffff0 bytes":
                var bytes = File.ReadAllBytes(weights);
                BinaryPrimitives.WriteUInt64LittleEndian(bytes, 0x7ffffff0);
                File.WriteAllBytes(weights, bytes);
                Rewrite(round, Resealed(manifest, round));
                return 0;
            case "data offsets past the end":
                var offsets = Header(weights);
                offsets["features.0.weight"]!["data_offsets"] = new JsonArray(0, 99999999);
                WriteHeader(weights, offsets);
                Rewrite(round, Resealed(manifest, round));
                return 0;
            case "weights a FIFO":
                File.Delete(weights);
                TempFolder.MakeFifo(weights);
                return 0;
            case "weights a link to /dev/zero":
                File.Delete(weights);
                File.CreateSymbolicLink(weights, "/dev/zero");
                return 0;
            case "manifest a FIFO":
                File.Delete(Path.Combine(round, "manifest.json"));
                TempFolder.MakeFifo(Path.Combine(round, "manifest.json"));
                return 0;
            default:
                throw new ArgumentException(craft);
        }
    }

    private static CheckpointManifest Manifest(string folder, int round) =>
        CheckpointManifest.Parse(File.ReadAllBytes(Path.Combine(folder, "checkpoints", CheckpointStore.RoundName(round), "manifest.json")));

    /// <summary>Writes a manifest as the program does, its own SHA-256 included: a crafted one, not a damaged one.</summary>
    private static CheckpointManifest Rewrite(string round, CheckpointManifest manifest)
    {
        File.WriteAllBytes(Path.Combine(round, "manifest.json"), manifest.ToJson());
        return manifest;
    }

    private static CheckpointManifest WithFirstShape(CheckpointManifest manifest, long[] shape, bool allMembers) => manifest with
    {
        Members = [.. manifest.Members.Select(m => m.Member == 0 || allMembers
            ? m with { Weights = m.Weights with { Layout = new WeightLayout([FirstWithShape(m.Weights.Layout, shape), .. m.Weights.Layout.Entries.Skip(1)]) } }
            : m)],
    };

    private static WeightEntry FirstWithShape(WeightLayout layout, long[] shape) => new(layout.Entries[0].Name, [.. shape], layout.Entries[0].Kind);

    /// <summary>The manifest with every file's size and SHA-256 as they are now on disk.</summary>
    private static CheckpointManifest Resealed(CheckpointManifest manifest, string round)
    {
        StoredTensors Seal(StoredTensors stored) => stored.File is null ? stored : stored with
        {
            File = stored.File with
            {
                Bytes = new FileInfo(Path.Combine(round, stored.File.Name)).Length,
                Sha256 = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(round, stored.File.Name)))),
            },
        };
        return manifest with { Members = [.. manifest.Members.Select(m => m with { Weights = Seal(m.Weights), Optimizer = Seal(m.Optimizer) })] };
    }

    private static JsonObject Header(string safetensors)
    {
        var bytes = File.ReadAllBytes(safetensors);
        return JsonNode.Parse(bytes.AsSpan(8, (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes)))!.AsObject();
    }

    /// <summary>Replaces the header of a safetensors file, keeping its data.</summary>
    private static void WriteHeader(string safetensors, JsonObject header)
    {
        var bytes = File.ReadAllBytes(safetensors);
        var data = bytes.AsSpan(8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes)).ToArray();
        var text = Encoding.UTF8.GetBytes(header.ToJsonString());
        var length = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)text.Length);
        File.WriteAllBytes(safetensors, [.. length, .. text, .. data]);
    }
}
