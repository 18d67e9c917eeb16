using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Files;
using PapaActors.Actors.Messages;
using PapaActors.Models;
using PapaActors.Models.Training;

namespace PapaActors.Actors.Population;

/// <summary>
/// A run folder's results.json, the one shape its writers (<see cref="RunRecorder"/>, a stop at once) and its
/// readers (`papa compare`, `papa sweep`, `papa resume`, the benchmarks) share. A completed run's file is a
/// <see cref="Completed"/>; a run that ended without results (failed, diverged, interrupted) leaves an
/// <see cref="Unfinished"/>. Accuracies are fractions from 0 to 1, times are seconds.
/// </summary>
public static class ResultsFile
{
    public const string Name = "results.json";

    public sealed record Completed(
        string Method,
        int Population,
        int Epochs,
        long Seed,
        string Model,
        string Dataset,
        bool Repair,
        bool RepairSoup,
        string Align,
        IReadOnlyList<Member> Members,
        double MeanMemberTestAccuracy,
        double MinMemberTestAccuracy,
        double MaxMemberTestAccuracy,
        Ensemble Ensemble,
        Soup AverageSoup,
        Soup GreedySoup,
        long TrainingSamples,
        double TrainingSeconds,
        double SamplesPerSecond,
        Phases Phases,
        long PeakRssBytes,
        double WallSeconds)
    {
        [JsonPropertyOrder(-1)]
        public string Status => RunStatus.Completed;

        /// <summary>What a finished run writes: its results, and the settings a table of results needs to say, as resolved.</summary>
        public static Completed Of(PapaSettings settings, RunResults results, double wallSeconds)
        {
            var accuracies = results.Members.Select(m => m.TestAccuracy).ToList();
            var variations = settings.Training.Variations.Assign(settings.Population, settings.Seed);
            static Variation VariationOf(MemberVariation v) => new(v.Mixup, v.Cutmix, v.LabelSmoothing, v.RandomErasing);
            static Soup SoupOf(SoupResult soup) => new(soup.TestAccuracy, soup.HeldOutAccuracy, soup.MembersUsed);
            return new Completed(
                settings.Method.Name(), settings.Population, settings.Epochs, settings.Seed, settings.Training.Model, settings.Dataset.Name,
                // As resolved: repair = auto is on for papa-all and papa-2.
                settings.Training.Repair.Enabled, settings.Training.Repair.Soups, settings.AlignSoups ? "weight-matching" : "none",
                results.Members.Select(m => new Member(m.Member, m.TestAccuracy, m.HeldOutAccuracy, VariationOf(variations[m.Member]))).ToList(),
                accuracies.Average(), accuracies.Min(), accuracies.Max(),
                new Ensemble(results.EnsembleTestAccuracy), SoupOf(results.AverageSoup), SoupOf(results.GreedySoup),
                results.TrainingSamples, results.TrainingSeconds, results.TrainingSeconds > 0 ? results.TrainingSamples / results.TrainingSeconds : 0,
                new Phases(results.TrainingSeconds, results.Phases.AveragingSeconds, results.Phases.WaitingSeconds, results.Phases.FinishingSeconds),
                results.Phases.PeakRssBytes, wallSeconds);
        }
    }

    /// <param name="WallSeconds">Null when a stop at once wrote it, from outside the run.</param>
    /// <param name="CheckpointRound">The round of the last checkpoint written, if any.</param>
    /// <param name="Resume">The command that continues the run; none for a diverged run, which would diverge again.</param>
    public sealed record Unfinished(
        string Status,
        string Reason,
        double? WallSeconds,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? CheckpointRound = null,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Resume = null);

    /// <param name="Number">The member's index (a record cannot have a property named as itself).</param>
    public sealed record Member([property: JsonPropertyName("member")] int Number, double TestAccuracy, double HeldOutAccuracy, Variation Variation);

    /// <summary>The member's regularisation (<see cref="MemberVariation"/>).</summary>
    public sealed record Variation(double Mixup, double Cutmix, double LabelSmoothing, double RandomErasing);

    public sealed record Ensemble(double TestAccuracy);

    public sealed record Soup(double TestAccuracy, double HeldOutAccuracy, IReadOnlyList<int> MembersUsed);

    /// <summary>Where the run's time went (<see cref="RunPhases"/>); averaging and waiting are part of training.</summary>
    public sealed record Phases(double TrainingSeconds, double AveragingSeconds, double WaitingSeconds, double FinishingSeconds);

    public static void Write(string folder, Completed results) => WriteWhole(folder, Json(results));

    /// <summary>
    /// Records a run that ended without results. A completed run's results.json is never replaced (a late signal or
    /// failure cannot undo a finished run): then it returns false.
    /// </summary>
    public static bool WriteUnfinished(string folder, string status, string reason, string resumeCommand, int? checkpointRound = null, double? wallSeconds = null)
    {
        if (HasCompleted(folder))
            return false;
        WriteWhole(folder, Json(new Unfinished(status, reason, wallSeconds, checkpointRound, status == RunStatus.Diverged ? null : resumeCommand)));
        return true;
    }

    internal static string Json(Completed results) => JsonSerializer.Serialize(results, ResultsJsonContext.Default.Completed);

    internal static string Json(Unfinished results) => JsonSerializer.Serialize(results, ResultsJsonContext.Default.Unfinished);

    /// <summary>Whether the run folder's results.json says the run completed (a file that is not JSON says not).</summary>
    public static bool HasCompleted(string folder)
    {
        var file = Path.Combine(folder, Name);
        // Read only when it is a regular file: a FIFO planted there would block the read forever.
        if (FileKind.Of(file, followLinks: false) != FileKind.Kind.Regular)
            return false;
        try
        {
            return JsonNode.Parse(File.ReadAllText(file)) is JsonObject results && Status(results) == RunStatus.Completed;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>
    /// The results of the completed run in <paramref name="folder"/>. A results.json that is missing, not a regular
    /// file, not JSON, of a run that did not complete, or with a field missing or of the wrong type is a
    /// <see cref="ConfigException"/> naming the file and the field.
    /// </summary>
    public static Completed ReadCompleted(string folder)
    {
        var file = Path.Combine(folder, Name);
        if (FileKind.Of(file, followLinks: true) == FileKind.Kind.Missing)
            throw new ConfigException($"{folder} has no {Name}: the run may not have completed, or it is not a run folder");
        if (FileKind.Problem(file, followLinks: true) is { } problem)
            throw new ConfigException($"{file}: {problem}");
        string text;
        try
        {
            text = File.ReadAllText(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException($"{file} cannot be read ({e.Message})", e);
        }
        JsonObject results;
        try
        {
            results = JsonNode.Parse(text) as JsonObject ?? throw new JsonException("not a JSON object");
        }
        catch (JsonException e)
        {
            throw new ConfigException($"{file} is not valid JSON: {e.Message}", e);
        }
        var status = Status(results) ?? throw new ConfigException($"{file}: 'status' is missing or not a string");
        if (status != RunStatus.Completed)
            throw new ConfigException($"{file}: the run's status is '{status}', not '{RunStatus.Completed}', so it has no results"
                + (results["reason"] is JsonValue reason ? $" ({reason})" : ""));
        try
        {
            return results.Deserialize(ResultsJsonContext.Default.Completed)!;
        }
        catch (JsonException e)
        {
            throw new ConfigException($"{file}: {Problem(e, results, ResultsJsonContext.Default.Completed)}", e);
        }
    }

    private static string? Status(JsonObject results) =>
        results["status"] is JsonValue value && value.TryGetValue<string>(out var status) ? status : null;

    /// <summary>
    /// What a deserialization error is about, said in the file's own terms: the field (its JSON path) and what it
    /// should hold, found from the error's path and the schema's metadata; the serializer's message is the fallback.
    /// </summary>
    private static string Problem(JsonException error, JsonObject results, JsonTypeInfo schema)
    {
        // The objects and values along the error's path, outermost first.
        List<(string Path, JsonNode? Node, JsonTypeInfo Type)> levels = [("", results, schema)];
        foreach (var step in (error.Path ?? "$").Split('.').Skip(1))
        {
            var (path, node, type) = levels[^1];
            var (name, index) = step.IndexOf('[') is var bracket and > 0 ? (step[..bracket], int.Parse(step[(bracket + 1)..^1])) : (step, (int?)null);
            if (type.Properties.FirstOrDefault(p => p.Name == name) is not { } property)
                return error.Message;
            levels.Add((path.Length == 0 ? name : $"{path}.{name}", (node as JsonObject)?[name], ResultsJsonContext.Default.GetTypeInfo(property.PropertyType)!));
            if (index is { } i)
                levels.Add(($"{levels[^1].Path}[{i}]", (levels[^1].Node as JsonArray)?[i], ResultsJsonContext.Default.GetTypeInfo(levels[^1].Type.ElementType!)!));
        }
        // A missing field: the error's path is its object's, or that object's last field.
        foreach (var (path, node, type) in Enumerable.Reverse(levels))
        {
            if (node is JsonObject fields && type.Properties.FirstOrDefault(p => p.AssociatedParameter is { HasDefaultValue: false } && !fields.ContainsKey(p.Name)) is { } missing)
                return $"'{(path.Length == 0 ? missing.Name : $"{path}.{missing.Name}")}' is missing: expected {Kind(missing.PropertyType)}";
        }
        var (field, value, expected) = levels[^1];
        if (field.Length == 0)
            return error.Message;
        return $"'{field}' = {value?.ToJsonString() ?? "null"} is not {Kind(expected.Type)}";
    }

    private static string Kind(Type type) => (Nullable.GetUnderlyingType(type) ?? type) switch
    {
        var t when t == typeof(string) => "a string",
        var t when t == typeof(bool) => "true or false",
        var t when t == typeof(int) || t == typeof(long) => "a whole number",
        var t when t == typeof(double) => "a number",
        var t when t.IsGenericType && t.GetGenericTypeDefinition() == typeof(IReadOnlyList<>) => "an array",
        _ => "an object",
    };

    private static void WriteWhole(string folder, string text) =>
        WholeFile.Write(Path.Combine(folder, Name), temporary => File.WriteAllText(temporary, text));
}

/// <summary>results.json as written since the first release: snake_case names, indented, every field required unless nullable.</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    RespectNullableAnnotations = true, RespectRequiredConstructorParameters = true)]
[JsonSerializable(typeof(ResultsFile.Completed))]
[JsonSerializable(typeof(ResultsFile.Unfinished))]
internal sealed partial class ResultsJsonContext : JsonSerializerContext;
