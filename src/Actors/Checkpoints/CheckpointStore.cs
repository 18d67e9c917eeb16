using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Population;
using PapaActors.Actors.Schedule;
using PapaActors.Models;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Checkpoints;

/// <summary>
/// Checkpoints on disk: `&lt;run folder&gt;/checkpoints/round-&lt;r&gt;/` with one safetensors file per member
/// (and one per non-empty optimizer state) and manifest.json. A checkpoint is written into
/// `round-&lt;r&gt;.partial/`, every file flushed to disk, the manifest last, and only then renamed into place,
/// so a crash leaves the previous checkpoints and at most an ignored `.partial` folder. Reading trusts
/// nothing: every file's size and SHA-256 is checked against the manifest before a checkpoint is offered.
/// One writer per run folder; needs no ActorSystem.
/// </summary>
public sealed partial class CheckpointStore(string runFolder)
{
    public const string FolderName = "checkpoints";
    public const string ManifestFile = "manifest.json";
    private const string PartialSuffix = ".partial";
    // An existing round moved aside while its replacement is renamed in; stands in for the round if a crash
    // comes between the two renames.
    private const string ReplacedSuffix = ".replaced";

    private int? _lastWritten;

    public string RunFolder { get; } = runFolder;
    public string Folder { get; } = Path.Combine(runFolder, FolderName);

    /// <summary>Writes <paramref name="checkpoint"/> as `round-&lt;r&gt;/`, replacing an existing one of that round.</summary>
    /// <param name="pauseBeforeManifest">Fault injection: a window in which the write can be killed halfway (tests, chaos runs).</param>
    /// <exception cref="CheckpointException">The folder could not be written; earlier checkpoints are untouched.</exception>
    public CheckpointWriteReport Write(Checkpoint checkpoint, CheckpointIdentity identity, TimeSpan pauseBeforeManifest = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(checkpoint.Round);
        if (checkpoint.Members.Select(m => m.Member).Distinct().Count() != checkpoint.Members.Count)
            throw new ArgumentException("a checkpoint holds each member once", nameof(checkpoint));
        var watch = Stopwatch.StartNew();
        var final = Path.Combine(Folder, RoundName(checkpoint.Round));
        var partial = final + PartialSuffix;
        try
        {
            Directory.CreateDirectory(Folder);
            foreach (var stale in Directory.EnumerateDirectories(Folder, "*" + PartialSuffix))
                TryDelete(stale);
            Directory.CreateDirectory(partial);

            var members = checkpoint.Members.Select(m => new MemberManifest(m.Member, m.Step,
                WriteTensors(m.Weights, partial, $"member-{m.Member}.safetensors"),
                WriteTensors(m.Optimizer, partial, $"member-{m.Member}.optimizer.safetensors"))).ToList();
            var manifest = new CheckpointManifest(checkpoint.Round, checkpoint.Samples, checkpoint.TrainingSeconds,
                checkpoint.JournalBytes, checkpoint.MetricsBytes, identity, members);
            var manifestBytes = manifest.ToJson();
            if (pauseBeforeManifest > TimeSpan.Zero)
                Thread.Sleep(pauseBeforeManifest);
            WriteDurably(Path.Combine(partial, ManifestFile), manifestBytes);

            MoveIntoPlace(partial, final);
            _lastWritten = checkpoint.Round;
            return new CheckpointWriteReport(checkpoint.Round, final,
                manifest.Files.Sum(f => f.Bytes) + manifestBytes.Length, watch.Elapsed.TotalMilliseconds);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(partial);
            throw new CheckpointException($"could not write checkpoint {final}: {e.Message}", e);
        }
    }

    /// <summary>
    /// The newest checkpoint whose manifest and files all check out, or null; plus one line per newer
    /// checkpoint that was skipped and why, for the caller to print. With the <paramref name="run"/>'s settings,
    /// a checkpoint must also fit the run (<see cref="EnsureFitsRun"/>), and with the layout of a member's
    /// <paramref name="weights"/>, the model (<see cref="EnsureFitsModel"/>).
    /// </summary>
    public CheckpointSearch FindLatestValid(PapaSettings? run = null, WeightLayout? weights = null)
    {
        var problems = new List<string>();
        if (!Directory.Exists(Folder))
            return new CheckpointSearch(null, problems);
        foreach (var partial in Directory.EnumerateDirectories(Folder, "*" + PartialSuffix).Order(StringComparer.Ordinal))
            problems.Add($"{Relative(partial)}: an interrupted write; ignored");
        foreach (var (round, folder) in Rounds().OrderByDescending(r => r.Round))
        {
            try
            {
                var manifest = Verify(folder, round);
                if (weights is not null)
                    EnsureFitsModel(manifest, weights);
                if (run is not null)
                    EnsureFitsRun(manifest, run);
                return new CheckpointSearch(new StoredCheckpoint(folder, manifest), problems);
            }
            catch (FormatException e)
            {
                problems.Add($"{Relative(folder)}: {e.Message}; skipped");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                problems.Add($"{Relative(folder)}: cannot be read ({e.Message}); skipped");
            }
        }
        return new CheckpointSearch(null, problems);
    }

    /// <summary>
    /// Reads a checkpoint found by <see cref="FindLatestValid"/> (which has already checked every file's hash),
    /// refusing one made under another identity: its rounds would not replay to the same result.
    /// </summary>
    public Checkpoint Load(StoredCheckpoint stored, CheckpointIdentity expected)
    {
        var manifest = stored.Manifest;
        EnsureIdentity(stored, expected);
        try
        {
            var members = manifest.Members.Select(m => new MemberState(m.Member, m.Step,
                ReadTensors(m.Weights, stored.Folder), ReadTensors(m.Optimizer, stored.Folder))).ToList();
            return new Checkpoint(manifest.Round, manifest.Samples, manifest.TrainingSeconds,
                manifest.JournalBytes, manifest.MetricsBytes, members);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or WeightLayoutException)
        {
            throw new CheckpointException($"could not read checkpoint {stored.Folder}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Deletes all but the newest <paramref name="keep"/> complete checkpoints (never the one this store
    /// wrote last) and leftovers of interrupted writes. Returns the folders deleted.
    /// </summary>
    public IReadOnlyList<string> Prune(int keep)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(keep, 1);
        if (!Directory.Exists(Folder))
            return [];
        var rounds = Rounds().OrderByDescending(r => r.Round).ToList();
        var doomed = Directory.EnumerateDirectories(Folder)
            .Where(d => d.EndsWith(PartialSuffix, StringComparison.Ordinal)
                || (d.EndsWith(ReplacedSuffix, StringComparison.Ordinal) && rounds.All(r => r.Folder != d)))
            .ToList();
        var kept = 0;
        foreach (var (round, folder) in rounds)
        {
            // Counting only rounds with a manifest: a damaged newer folder must not push out a good older one.
            if (kept < keep || round == _lastWritten)
                kept += File.Exists(Path.Combine(folder, ManifestFile)) ? 1 : 0;
            else
                doomed.Add(folder);
        }
        try
        {
            foreach (var folder in doomed)
                Directory.Delete(folder, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"could not delete an old checkpoint in {Folder}: {e.Message}", e);
        }
        return doomed;
    }

    public static string RoundName(int round) => "round-" + round.ToString("D6", CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^round-(\d{1,9})(\.replaced)?$")]
    private static partial Regex RoundPattern();

    /// <summary>Every round folder, with a `.replaced` one standing in only where its round is otherwise missing.</summary>
    private IEnumerable<(int Round, string Folder)> Rounds() =>
        Directory.EnumerateDirectories(Folder)
            .Select(folder => (Folder: folder, Match: RoundPattern().Match(Path.GetFileName(folder))))
            .Where(x => x.Match.Success)
            .Select(x => (Round: int.Parse(x.Match.Groups[1].Value, CultureInfo.InvariantCulture), x.Folder, Replaced: x.Match.Groups[2].Success))
            .GroupBy(x => x.Round)
            .Select(g => g.OrderBy(x => x.Replaced).First())
            .Select(x => (x.Round, x.Folder));

    /// <summary>
    /// The manifest of a checkpoint whose files all match it; otherwise a FormatException saying what is wrong.
    /// Only regular files are opened (a FIFO would block, a device or a link lead outside the folder), and
    /// each safetensors header is checked against its layout and size before anything is allocated for it.
    /// </summary>
    private static CheckpointManifest Verify(string folder, int round)
    {
        if (FileKind.Of(folder, followLinks: false) != FileKind.Kind.Directory)
            throw new FormatException($"the folder is {FileKind.Describe(FileKind.Of(folder, followLinks: false))}, not a directory");
        var manifestPath = Path.Combine(folder, ManifestFile);
        if (FileKind.Of(manifestPath, followLinks: false) == FileKind.Kind.Missing)
            throw new FormatException($"{ManifestFile} is missing (the write was interrupted)");
        var bytes = ReadRegular(manifestPath, ManifestFile, MaxManifestBytes);
        CheckpointManifest manifest;
        try
        {
            manifest = CheckpointManifest.Parse(bytes);
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            throw new FormatException($"{ManifestFile} is not readable: {e.Message}");
        }
        if (manifest.Round != round)
            throw new FormatException($"{ManifestFile} is for round {manifest.Round}");
        foreach (var file in manifest.Files)
        {
            var path = Path.Combine(folder, file.Name);
            if (FileKind.Problem(path, followLinks: false) is { } problem)
                throw new FormatException($"{file.Name}: {problem}");
            using var stream = File.OpenRead(path);
            if (stream.Length != file.Bytes)
                throw new FormatException($"{file.Name} has {stream.Length} bytes, the manifest says {file.Bytes}");
            if (Convert.ToHexStringLower(SHA256.HashData(stream)) != file.Sha256)
                throw new FormatException($"{file.Name} does not match its SHA-256 in the manifest (the file is damaged)");
        }
        foreach (var tensors in manifest.Members.SelectMany(m => new[] { m.Weights, m.Optimizer }).Where(t => t.File is not null))
            if (SafetensorsFile.HeaderProblem(Path.Combine(folder, tensors.File!.Name), tensors.Layout) is { } problem)
                throw new FormatException($"{tensors.File.Name}: {problem}");
        return manifest;
    }

    /// <summary>
    /// Whether every member's weights have the model's layout <paramref name="weights"/>, and its optimizer state
    /// at most two values (AdamW's moments) per parameter value and a step; otherwise a FormatException saying what
    /// differs. Checked before anything is allocated for the checkpoint: a crafted layout, however well its files
    /// agree with it, never makes a resume allocate more than the run itself needs.
    /// </summary>
    private static void EnsureFitsModel(CheckpointManifest manifest, WeightLayout weights)
    {
        var optimizerLimit = 2 * weights.Entries.Where(e => e.Kind == WeightKind.Parameter).Sum(e => e.Length) + 1;
        foreach (var member in manifest.Members)
        {
            try
            {
                weights.EnsureMatches(member.Weights.Layout, $"the weights of member {member.Member} do not fit the model");
            }
            catch (WeightLayoutException e)
            {
                throw new FormatException(e.Message);
            }
            if (member.Optimizer.Layout.TotalLength > optimizerLimit)
                throw new FormatException($"the optimizer state of member {member.Member} has {member.Optimizer.Layout.TotalLength} values, "
                    + $"more than the {optimizerLimit} any optimizer of the model has");
        }
    }

    /// <summary>More steps than an epoch of any dataset here has (ImageNet at batch size 1 has 1.3 million).</summary>
    private const long MaxStepsPerEpoch = 10_000_000;

    /// <summary>A generous bound on manifest.json (a population of 4096 deep models needs some megabytes).</summary>
    private const long MaxManifestBytes = 256L << 20;

    /// <summary>The bytes of a regular file of at most <paramref name="limit"/> bytes; otherwise a FormatException naming <paramref name="name"/>.</summary>
    private static byte[] ReadRegular(string path, string name, long limit)
    {
        if (FileKind.Problem(path, followLinks: false) is { } problem)
            throw new FormatException($"{name}: {problem}");
        using var stream = File.OpenRead(path);
        if (stream.Length > limit)
            throw new FormatException($"{name} has {stream.Length} bytes, more than the {limit} this file can have");
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>
    /// Whether a checkpoint fits the run it is to continue, as written by the run recorder: the journal and
    /// metrics lengths end a line of those files, the journal has exactly the checkpoint's rounds before that
    /// length, every member of the population is there once at the step the schedule plan puts at that round,
    /// and the samples are the population's batches up to that step. Otherwise a FormatException saying what differs.
    /// </summary>
    private void EnsureFitsRun(CheckpointManifest manifest, PapaSettings settings)
    {
        var journalPath = Path.Combine(RunFolder, ScheduleJournal.FileName);
        ScheduleJournal.Content journal;
        try
        {
            journal = ScheduleJournal.Parse(journalPath, Lines(journalPath, ScheduleJournal.FileName, manifest.JournalBytes, "journal_bytes"));
        }
        catch (Exception e) when (e is JournalException or InvalidOperationException)
        {
            throw new FormatException($"journal_bytes {manifest.JournalBytes} ends no valid journal ({e.Message})");
        }
        Lines(Path.Combine(RunFolder, RunRecorder.MetricsFile), RunRecorder.MetricsFile, manifest.MetricsBytes, "metrics_bytes");
        if (journal.Rounds.Count != manifest.Round || journal.Ended)
            throw new FormatException($"the first {manifest.JournalBytes} bytes of {ScheduleJournal.FileName} hold {journal.Rounds.Count} rounds"
                + $"{(journal.Ended ? " and the end" : "")}, a checkpoint of round {manifest.Round} follows {manifest.Round} rounds");
        var header = journal.Header;
        // The plan is made from the header's steps per epoch (the data are not loaded yet), so that count is checked first.
        if (header.StepsPerEpoch is < 1 or > MaxStepsPerEpoch || header.TotalSteps != header.StepsPerEpoch * settings.Epochs || header.Population != settings.Population)
            throw new FormatException($"the header of {ScheduleJournal.FileName} ({header.Population} members, {header.StepsPerEpoch} steps per epoch, "
                + $"{header.TotalSteps} in all) does not fit the run's {settings.Population} members and {settings.Epochs} epochs");
        var plan = SchedulePlan.For(settings, header.StepsPerEpoch);
        if (manifest.Round > plan.Rounds.Count)
            throw new FormatException($"round {manifest.Round} is past the plan's {plan.Rounds.Count} rounds");
        var step = manifest.Round < plan.Rounds.Count ? plan.Rounds[manifest.Round].FirstStep : plan.TotalSteps;
        var members = manifest.Members.Select(m => m.Member).ToList();
        if (!members.SequenceEqual(Enumerable.Range(0, settings.Population)))
            throw new FormatException($"it holds members {string.Join(", ", members)}, the population is {settings.Population}");
        if (manifest.Members.FirstOrDefault(m => m.Step != step) is { } wrong)
            throw new FormatException($"member {wrong.Member} is at step {wrong.Step}, the plan puts round {manifest.Round} at step {step}");
        var samples = (long)settings.Population * settings.Training.BatchSize * step;
        if (manifest.Samples != samples)
            throw new FormatException($"samples is {manifest.Samples}, {settings.Population} members x batch {settings.Training.BatchSize} x {step} steps are {samples}");
    }

    /// <summary>
    /// The lines of the first <paramref name="length"/> bytes of a run folder file, which must end a line (a
    /// FormatException naming <paramref name="field"/> otherwise).
    /// </summary>
    private static string[] Lines(string path, string name, long length, string field)
    {
        if (FileKind.Problem(path, followLinks: false) is { } problem)
            throw new FormatException($"{name}: {problem}");
        using var stream = File.OpenRead(path);
        if (length < 1 || length > stream.Length || length > Array.MaxLength)
            throw new FormatException($"{field} {length} is outside {name}, which has {stream.Length} bytes");
        var bytes = new byte[length];
        stream.ReadExactly(bytes);
        if (bytes[^1] != (byte)'\n')
            throw new FormatException($"{field} {length} does not end a line of {name}");
        return Encoding.UTF8.GetString(bytes, 0, bytes.Length - 1).Split('\n');
    }

    private void EnsureIdentity(StoredCheckpoint stored, CheckpointIdentity expected)
    {
        var found = stored.Manifest.Identity;
        var differences = new List<string>();
        if (found.ConfigFingerprint != expected.ConfigFingerprint)
            differences.Add($"with a different configuration (a setting that changes results differs: fingerprint "
                + $"{Short(found.ConfigFingerprint)}, this run {Short(expected.ConfigFingerprint)}); resume with the run's own "
                + "configuration (its config.conf) or start a new run");
        if (found.CodeVersion != expected.CodeVersion)
            differences.Add($"by a different build of the numerical code ({found.CodeVersion}; this build: {expected.CodeVersion}), "
                + "so replayed rounds would not be bit-identical; resume with the build that wrote it or start a new run");
        if (differences.Count > 0)
            throw new CheckpointException($"{Relative(stored.Folder)} was written {string.Join(", and ", differences)}");
    }

    private static string Short(string fingerprint) => fingerprint.Length > 12 ? fingerprint[..12] : fingerprint;

    private static StoredTensors WriteTensors(WeightSnapshot snapshot, string folder, string name)
    {
        if (snapshot.Layout.Entries.Count == 0)
            return new StoredTensors(snapshot.Layout, null);
        var path = Path.Combine(folder, name);
        SafetensorsFile.Save(snapshot, path);
        // Hash what is on disk, and fsync it before the manifest can vouch for it.
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        var sha256 = Convert.ToHexStringLower(SHA256.HashData(stream));
        stream.Flush(flushToDisk: true);
        return new StoredTensors(snapshot.Layout, new StoredFile(name, stream.Length, sha256));
    }

    private static WeightSnapshot ReadTensors(StoredTensors stored, string folder) =>
        stored.File is null
            ? new WeightSnapshot(stored.Layout, [])
            : SafetensorsFile.Load(Path.Combine(folder, stored.File.Name), stored.Layout);

    private static void WriteDurably(string path, byte[] bytes)
    {
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        stream.Write(bytes);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>
    /// Renames the finished folder into place. An existing folder of the same round is first moved aside to
    /// `.replaced`, which <see cref="Rounds"/> accepts while the round is missing, so no moment is without one.
    /// </summary>
    private static void MoveIntoPlace(string partial, string final)
    {
        var replaced = final + ReplacedSuffix;
        if (!Directory.Exists(final))
        {
            Directory.Move(partial, final);
            TryDelete(replaced);
            return;
        }
        if (Directory.Exists(replaced))
            Directory.Delete(replaced, recursive: true);
        Directory.Move(final, replaced);
        try
        {
            Directory.Move(partial, final);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Directory.Move(replaced, final);
            throw;
        }
        TryDelete(replaced);
    }

    private static void TryDelete(string folder)
    {
        try
        {
            if (Directory.Exists(folder))
                Directory.Delete(folder, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: a leftover `.partial` or `.replaced` is ignored by readers and removed by the next write.
        }
    }

    private string Relative(string path) => Path.GetRelativePath(RunFolder, path);
}

/// <summary>A checkpoint that passed every check, ready for <see cref="CheckpointStore.Load"/>.</summary>
public sealed record StoredCheckpoint(string Folder, CheckpointManifest Manifest)
{
    public int Round => Manifest.Round;
}

/// <summary>The newest valid checkpoint (null if none) and why newer ones were skipped.</summary>
public sealed record CheckpointSearch(StoredCheckpoint? Latest, IReadOnlyList<string> Problems);

/// <summary>What a write cost, e.g. for the log line "checkpoint round 12: 3.4 MB in 41 ms".</summary>
public sealed record CheckpointWriteReport(int Round, string Folder, long Bytes, double ElapsedMilliseconds)
{
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"checkpoint round {Round}: {Size(Bytes)} in {ElapsedMilliseconds:0} ms");

    private static string Size(long bytes) => bytes switch
    {
        < 1_000 => $"{bytes} B",
        < 1_000_000 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e3:0.0} kB"),
        < 1_000_000_000 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e6:0.0} MB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e9:0.00} GB"),
    };
}

/// <summary>A checkpoint could not be written or read; the message names the folder and the cause.</summary>
public sealed class CheckpointException(string message, Exception? inner = null) : Exception(message, inner);
