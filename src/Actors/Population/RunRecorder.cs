using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Event;
using PapaActors.Actors.Checkpoints;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Files;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Schedule;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Population;

/// <summary>
/// Writes the run folder from the Averager's events, then passes each event on to an observer (the
/// console, a test). Lines are appended and flushed as they happen, whole files are written to a temporary
/// name and renamed, and checkpoints go through <see cref="CheckpointStore"/>, so a run that fails or is
/// killed leaves everything written so far intact. On a rollback or resume it cuts the journal and
/// metrics back to where the checkpoint left them, so the rounds played again are written once.
/// The metrics rows of a round whose mix is measured wait for the members' measurements, which come during the next
/// round; rows are written in round order, and before a checkpoint notes how long metrics.csv is (by then every
/// member has sent the measurement of the mix before it: see <see cref="MixEvaluated"/>).
/// </summary>
public sealed class RunRecorder : ReceiveActor
{
    public const string MetricsFile = "metrics.csv";
    public const string ConfigFile = "config.conf";
    public const string FaultsFile = "faults.jsonl";
    private const string MetricsHeader = "member,round,epoch,step,train_loss,learning_rate,held_out_accuracy,samples_per_second,wait_seconds,mix_seconds,averaging_seconds,held_out_before_mix,held_out_after_mix,feature_cka_mean,feature_cka_min";

    private readonly string _folder;
    private readonly IActorRef _observer;
    private readonly string _resumeCommand;
    private readonly bool _resuming;
    private readonly Checkpoint? _resumeFrom;
    private readonly CheckpointStore _checkpoints;
    private readonly CheckpointIdentity _identity;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Stopwatch _wallClock = Stopwatch.StartNew();
    private PapaSettings? _settings;
    private AppendOnlyFile? _journal;
    private AppendOnlyFile? _metrics;
    private AppendOnlyFile? _faults;
    private long _journalHeaderBytes;
    private long _metricsHeaderBytes;
    private int _rounds;
    private int? _lastCheckpoint;
    /// <summary>Completed rounds whose rows are not written yet, oldest first, with the mix measurements that came so far.</summary>
    private readonly List<(RoundCompleted Round, Dictionary<int, MixGainMeasured> Gains)> _unwritten = [];

    /// <param name="resumeCommand">The command line that continues this run, written to results.json when it ends
    /// unfinished; the caller renders it (the actors know no `papa` command).</param>
    /// <param name="resuming">The folder holds an earlier attempt of this run: keep its config and faults, and
    /// continue its journal and metrics from <paramref name="resumeFrom"/> (from the start when null).</param>
    public RunRecorder(string folder, RunConfig run, IActorRef observer, string resumeCommand, bool resuming = false, Checkpoint? resumeFrom = null)
    {
        _folder = folder;
        _observer = observer;
        _resumeCommand = resumeCommand;
        _resuming = resuming;
        _resumeFrom = resumeFrom;
        _lastCheckpoint = resumeFrom?.Round;
        _checkpoints = new CheckpointStore(folder);
        _identity = run.Identity;
        Directory.CreateDirectory(folder);
        if (!resuming)
            WriteWhole(folder, ConfigFile, run.Text);

        Receive<RunStarted>(e => Record(e, () => OnStarted(e)));
        Receive<RoundCompleted>(e => Record(e, () => OnRound(e)));
        Receive<MixGainMeasured>(e => Record(e, () => OnMixGain(e)));
        Receive<MembersReset>(e => Record(e, () => _journal!.AppendLine(ScheduleJournal.ResetLine(e.Round, e.Members, e.Reason))));
        Receive<FaultRecorded>(e => Record(e, () => OnFault(e)));
        Receive<CheckpointDue>(OnCheckpointDue);
        Receive<RollBack>(OnRollBack);
        Receive<RunCompleted>(e => Record(e, () => OnCompleted(e.Results)));
        Receive<RunFailed>(e => Record(e, () => OnEnded(e.Status, e.Reason)));
        Receive<RunInterrupted>(e => Record(e, () => OnEnded(RunStatus.Interrupted, e.Reason)));
    }

    public static Props Props(string folder, RunConfig run, IActorRef observer, string resumeCommand, bool resuming = false, Checkpoint? resumeFrom = null) =>
        Akka.Actor.Props.Create(() => new RunRecorder(folder, run, observer, resumeCommand, resuming, resumeFrom));

    /// <summary>A recorder that lost its open files cannot go on: the run ends as failed, with its checkpoints intact.</summary>
    protected override void PostRestart(Exception reason)
    {
        _observer.Tell(new RunFailed($"the run recorder failed ({reason.GetType().Name}: {reason.Message})"));
        Context.Stop(Self);
    }

    private void Record(IRunEvent e, Action write)
    {
        try
        {
            write();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _log.Error(ex, "could not write the run folder {0}", _folder);
            var reason = $"could not write the run folder {_folder}: {ex.Message}";
            TryWriteOutcome(RunStatus.Failed, reason);
            _observer.Tell(new RunFailed(reason));
            return;
        }
        _observer.Tell(e);
    }

    private void OnStarted(RunStarted started)
    {
        _settings = started.Settings;
        var journalPath = Path.Combine(_folder, ScheduleJournal.FileName);
        var metricsPath = Path.Combine(_folder, MetricsFile);
        _faults = AppendOnlyFile.Append(Path.Combine(_folder, FaultsFile));
        if (_resumeFrom is { } checkpoint)
        {
            _journal = AppendOnlyFile.Open(journalPath, checkpoint.JournalBytes);
            _metrics = AppendOnlyFile.Open(metricsPath, checkpoint.MetricsBytes);
            _journalHeaderBytes = AppendOnlyFile.FirstLineBytes(journalPath);
            _metricsHeaderBytes = AppendOnlyFile.FirstLineBytes(metricsPath);
            _rounds = checkpoint.Round;
            return;
        }
        _journal = AppendOnlyFile.Open(journalPath, 0);
        _journal.AppendLine(ScheduleJournal.HeaderLine(started.Plan));
        _journalHeaderBytes = _journal.Length;
        _metrics = AppendOnlyFile.Open(metricsPath, 0);
        _metrics.AppendLine(MetricsHeader);
        _metricsHeaderBytes = _metrics.Length;
    }

    private void OnRound(RoundCompleted round)
    {
        _journal!.AppendLine(ScheduleJournal.RoundLine(round.Plan));
        _rounds = round.Plan.Round + 1;
        _unwritten.Add((round, []));
        WriteRows(all: false);
    }

    private void OnMixGain(MixGainMeasured gain)
    {
        var waiting = _unwritten.FindIndex(u => u.Round.Plan.Round == gain.Round && u.Round.AwaitsMixGain);
        if (waiting < 0)
        {
            _log.Warning("a mix measurement of round {0} (member {1}) for no round awaiting one", gain.Round, gain.Member);
            return;
        }
        _unwritten[waiting].Gains[gain.Member] = gain;
        WriteRows(all: false);
    }

    /// <summary>Writes the rounds whose measurements are all in, in order; with <paramref name="all"/>, every round, with what came.</summary>
    private void WriteRows(bool all)
    {
        while (_unwritten.Count > 0 && (all || !_unwritten[0].Round.AwaitsMixGain || _unwritten[0].Gains.Count == _unwritten[0].Round.Reports.Count))
        {
            var (round, gains) = _unwritten[0];
            _unwritten.RemoveAt(0);
            foreach (var r in round.Reports)
            {
                var gain = gains.GetValueOrDefault(r.Member);
                _metrics!.AppendLine(string.Join(',',
                    r.Member, r.Round, round.Plan.Epoch, r.Step, Number(r.Loss), Number(r.LearningRate),
                    r.HeldOutAccuracy is { } a ? Number(a) : "", Number(r.Seconds > 0 ? r.Samples / r.Seconds : 0),
                    Number(r.WaitSeconds), Number(r.MixSeconds), Number(round.AveragingSeconds),
                    gain is null ? "" : Number(gain.HeldOutBefore), gain is null ? "" : Number(gain.HeldOutAfter),
                    round.FeatureSimilarity is { } f ? Number(f.MeanCka) : "", round.FeatureSimilarity is { } g ? Number(g.MinCka) : ""));
            }
        }
    }

    private void OnFault(FaultRecorded fault) => _faults?.AppendLine(new JsonObject
    {
        ["time"] = DateTime.UtcNow.ToString("O"),
        ["kind"] = fault.Kind,
        ["member"] = fault.Member,
        ["round"] = fault.Round,
        ["detail"] = fault.Detail,
        ["seed_node"] = fault.Replacement?.SeedNode,
    }.ToJsonString());

    /// <summary>Writes the checkpoint with the current journal and metrics lengths, and answers the Averager.</summary>
    private void OnCheckpointDue(CheckpointDue due)
    {
        WriteRows(all: true);
        var checkpoint = due.Checkpoint with { JournalBytes = _journal!.Length, MetricsBytes = _metrics!.Length };
        IRunEvent answer;
        try
        {
            var written = _checkpoints.Write(checkpoint, _identity, _settings!.Faults.Injection.CheckpointPause);
            _lastCheckpoint = checkpoint.Round;
            PruneCheckpoints();
            _log.Info("{0}", written);
            answer = new CheckpointWritten(checkpoint.Round, written.Folder, written.Bytes, written.ElapsedMilliseconds);
        }
        catch (CheckpointException e)
        {
            _log.Error("checkpoint of round {0} failed: {1}", checkpoint.Round, e.Message);
            answer = new CheckpointFailed(checkpoint.Round, e.Message);
        }
        Sender.Tell(answer);
        _observer.Tell(answer);
    }

    /// <summary>An old checkpoint that cannot be deleted costs disk space, not the run.</summary>
    private void PruneCheckpoints()
    {
        try
        {
            _checkpoints.Prune(_settings!.Faults.CheckpointsKept);
        }
        catch (CheckpointException e)
        {
            _log.Warning("{0}", e.Message);
        }
    }

    /// <summary>
    /// Loads the newest valid checkpoint (any checkpoint of this run is a consistent state to go back to; a
    /// damaged one is skipped) and cuts the journal and metrics back to it.
    /// </summary>
    private void OnRollBack(RollBack rollBack)
    {
        RollbackReady ready;
        try
        {
            var search = _checkpoints.FindLatestValid(_settings);
            foreach (var problem in search.Problems)
                _log.Warning("{0}", problem);
            var checkpoint = search.Latest is { } latest ? _checkpoints.Load(latest, _identity) : null;
            if (checkpoint?.Round != rollBack.Round)
                _log.Warning("rolling back to {0}, where the averager expected {1}", checkpoint?.Round.ToString() ?? "the start", rollBack.Round?.ToString() ?? "the start");
            _unwritten.Clear();
            _journal?.TruncateTo(checkpoint?.JournalBytes ?? _journalHeaderBytes);
            _metrics?.TruncateTo(checkpoint?.MetricsBytes ?? _metricsHeaderBytes);
            _rounds = checkpoint?.Round ?? 0;
            ready = new RollbackReady(checkpoint);
        }
        catch (Exception e) when (e is CheckpointException or IOException or UnauthorizedAccessException)
        {
            ready = new RollbackReady(null, e.Message);
        }
        Sender.Tell(ready);
        _observer.Tell(rollBack);
    }

    /// <summary>results.json last but one, the journal's end line last: a journal that ends is a run that completed.</summary>
    private void OnCompleted(RunResults results)
    {
        WriteRows(all: true);
        SafetensorsFile.Save(results.AverageSoup.Weights, Path.Combine(_folder, "soup-average.safetensors"));
        SafetensorsFile.Save(results.GreedySoup.Weights, Path.Combine(_folder, "soup-greedy.safetensors"));
        if (_settings!.SaveMembers)
            foreach (var member in results.Members)
                SafetensorsFile.Save(member.Weights, Path.Combine(_folder, $"member-{member.Member}.safetensors"));
        ResultsFile.Write(_folder, ResultsFile.Completed.Of(_settings!, results, _wallClock.Elapsed.TotalSeconds));
        _journal?.AppendLine(ScheduleJournal.EndLine(_rounds));
        Close();
    }

    /// <summary>A run that ends without results; an interrupted one keeps its journal open-ended, to be resumed.</summary>
    private void OnEnded(string status, string reason)
    {
        if (_metrics is not null)
            WriteRows(all: true);
        ResultsFile.WriteUnfinished(_folder, status, reason, _resumeCommand, _lastCheckpoint, _wallClock.Elapsed.TotalSeconds);
        if (status != RunStatus.Interrupted)
            _journal?.AppendLine(ScheduleJournal.FailedLine(reason));
        Close();
    }

    private void TryWriteOutcome(string status, string reason)
    {
        try
        {
            ResultsFile.WriteUnfinished(_folder, status, reason, _resumeCommand, _lastCheckpoint, _wallClock.Elapsed.TotalSeconds);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Error(e, "could not write {0} either", ResultsFile.Name);
        }
    }

    private static void WriteWhole(string folder, string name, string text) =>
        WholeFile.Write(Path.Combine(folder, name), temporary => File.WriteAllText(temporary, text));

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private void Close()
    {
        _journal?.Dispose();
        _metrics?.Dispose();
        _faults?.Dispose();
        _journal = _metrics = _faults = null;
    }

    protected override void PostStop() => Close();
}
