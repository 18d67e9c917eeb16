using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Event;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Schedule;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Population;

/// <summary>
/// Writes the run folder from the Averager's events, then passes each event on to an observer (the
/// console, a test). Lines are appended and flushed as they happen, and whole files are written to a
/// temporary name and renamed, so a run that fails leaves everything written so far intact.
/// </summary>
public sealed class RunRecorder : ReceiveActor
{
    public const string ResultsFile = "results.json";
    public const string MetricsFile = "metrics.csv";
    public const string ConfigFile = "config.conf";

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
    private readonly string _folder;
    private readonly IActorRef _observer;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Stopwatch _wallClock = Stopwatch.StartNew();
    private PapaSettings? _settings;
    private StreamWriter? _journal;
    private StreamWriter? _metrics;
    private int _rounds;

    public RunRecorder(string folder, string resolvedConfig, IActorRef observer)
    {
        _folder = folder;
        _observer = observer;
        Directory.CreateDirectory(folder);
        WriteWhole(ConfigFile, resolvedConfig);

        Receive<RunStarted>(e => Record(e, () => OnStarted(e)));
        Receive<RoundCompleted>(e => Record(e, () => OnRound(e)));
        Receive<RunCompleted>(e => Record(e, () => OnCompleted(e.Results)));
        Receive<RunFailed>(e => Record(e, () => OnFailed(e.Reason)));
    }

    public static Props Props(string folder, string resolvedConfig, IActorRef observer) =>
        Akka.Actor.Props.Create(() => new RunRecorder(folder, resolvedConfig, observer));

    private void Record(IRunEvent e, Action write)
    {
        try
        {
            write();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _log.Error(ex, "could not write the run folder {0}", _folder);
            _observer.Tell(new RunFailed($"could not write the run folder {_folder}: {ex.Message}"));
            return;
        }
        _observer.Tell(e);
    }

    private void OnStarted(RunStarted started)
    {
        _settings = started.Settings;
        _journal = Append(ScheduleJournal.FileName);
        _journal.WriteLine(ScheduleJournal.HeaderLine(started.Plan));
        _metrics = Append(MetricsFile);
        _metrics.WriteLine("member,round,epoch,step,train_loss,learning_rate,held_out_accuracy,samples_per_second");
    }

    private void OnRound(RoundCompleted round)
    {
        _journal!.WriteLine(ScheduleJournal.RoundLine(round.Plan));
        _rounds++;
        foreach (var r in round.Reports)
        {
            _metrics!.WriteLine(string.Join(',',
                r.Member, r.Round, round.Plan.Epoch, r.Step, Number(r.Loss), Number(r.LearningRate),
                r.HeldOutAccuracy is { } a ? Number(a) : "", Number(r.Seconds > 0 ? r.Samples / r.Seconds : 0)));
        }
    }

    private void OnCompleted(RunResults results)
    {
        _journal?.WriteLine(ScheduleJournal.EndLine(_rounds));
        SafetensorsFile.Save(results.AverageSoup.Weights, Path.Combine(_folder, "soup-average.safetensors"));
        SafetensorsFile.Save(results.GreedySoup.Weights, Path.Combine(_folder, "soup-greedy.safetensors"));
        if (_settings!.SaveMembers)
            foreach (var member in results.Members)
                SafetensorsFile.Save(member.Weights, Path.Combine(_folder, $"member-{member.Member}.safetensors"));
        WriteWhole(ResultsFile, ResultsJson(results).ToJsonString(Indented));
        Close();
    }

    private void OnFailed(string reason)
    {
        _journal?.WriteLine(ScheduleJournal.FailedLine(reason));
        var failed = new JsonObject { ["status"] = "failed", ["reason"] = reason, ["wall_seconds"] = _wallClock.Elapsed.TotalSeconds };
        WriteWhole(ResultsFile, failed.ToJsonString(Indented));
        Close();
    }

    private JsonObject ResultsJson(RunResults results)
    {
        var settings = _settings!;
        var accuracies = results.Members.Select(m => m.TestAccuracy).ToList();
        var variations = settings.Training.Variations.Assign(settings.Population, settings.Seed);
        JsonObject Soup(SoupResult soup) => new()
        {
            ["test_accuracy"] = soup.TestAccuracy,
            ["held_out_accuracy"] = soup.HeldOutAccuracy,
            ["members_used"] = new JsonArray(soup.MembersUsed.Select(m => (JsonNode)m).ToArray()),
        };
        return new JsonObject
        {
            ["status"] = "completed",
            ["method"] = settings.Method.Name(),
            ["population"] = settings.Population,
            ["epochs"] = settings.Epochs,
            ["seed"] = settings.Seed,
            ["model"] = settings.Training.Model,
            ["dataset"] = settings.Dataset.Name,
            ["repair"] = settings.Training.Repair.Enabled,
            ["members"] = new JsonArray(results.Members.Select(m => (JsonNode)new JsonObject
            {
                ["member"] = m.Member,
                ["test_accuracy"] = m.TestAccuracy,
                ["held_out_accuracy"] = m.HeldOutAccuracy,
                ["variation"] = new JsonObject
                {
                    ["mixup"] = variations[m.Member].Mixup,
                    ["cutmix"] = variations[m.Member].Cutmix,
                    ["label_smoothing"] = variations[m.Member].LabelSmoothing,
                    ["random_erasing"] = variations[m.Member].RandomErasing,
                },
            }).ToArray()),
            ["mean_member_test_accuracy"] = accuracies.Average(),
            ["min_member_test_accuracy"] = accuracies.Min(),
            ["max_member_test_accuracy"] = accuracies.Max(),
            ["ensemble"] = new JsonObject { ["test_accuracy"] = results.EnsembleTestAccuracy },
            ["average_soup"] = Soup(results.AverageSoup),
            ["greedy_soup"] = Soup(results.GreedySoup),
            ["training_samples"] = results.TrainingSamples,
            ["training_seconds"] = results.TrainingSeconds,
            ["samples_per_second"] = results.TrainingSeconds > 0 ? results.TrainingSamples / results.TrainingSeconds : 0,
            ["wall_seconds"] = _wallClock.Elapsed.TotalSeconds,
        };
    }

    private StreamWriter Append(string name) => new(Path.Combine(_folder, name), append: true) { AutoFlush = true };

    private void WriteWhole(string name, string text)
    {
        var path = Path.Combine(_folder, name);
        File.WriteAllText(path + ".partial", text);
        File.Move(path + ".partial", path, overwrite: true);
    }

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private void Close()
    {
        _journal?.Dispose();
        _metrics?.Dispose();
        _journal = _metrics = null;
    }

    protected override void PostStop() => Close();
}
