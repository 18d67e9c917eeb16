using System.Text.Json;
using System.Text.Json.Nodes;
using PapaActors.Actors.Configuration;
using PapaActors.Models;

namespace PapaActors.Actors.Schedule;

/// <summary>
/// The append-only schedule journal of a run (JSON lines): a header naming the schedule's inputs, one line
/// per completed round with its mix decision, a line for each divergence reset (a decision that depends on
/// the training, so replays read it but do not recompute it), and a closing line. `papa replay` recomputes the schedule and
/// compares it with these lines.
/// </summary>
public static class ScheduleJournal
{
    public const string FileName = "schedule.jsonl";
    public const string Format = "papa-schedule";
    public const int Version = 1;

    /// <param name="Pairing">How PAPA-2 drew its parents; "cycle" for a journal written before pairing was an option.</param>
    public sealed record Header(string Method, int Population, long Seed, long StepsPerEpoch, long TotalSteps, int Rounds, string Pairing);

    /// <summary>Diverged members replaced by the mean of the finite ones before round <paramref name="Round"/>'s mix.</summary>
    public sealed record MemberReset(int Round, IReadOnlyList<int> Members);

    public sealed record Content(Header Header, IReadOnlyList<RoundPlan> Rounds, bool Ended, string? Failure, IReadOnlyList<MemberReset> Resets);

    public static string HeaderLine(SchedulePlan plan) => new JsonObject
    {
        ["type"] = "header",
        ["format"] = Format,
        ["version"] = Version,
        ["method"] = plan.Mixing.Method.Name(),
        ["population"] = plan.Population,
        ["seed"] = plan.Seed,
        ["steps_per_epoch"] = plan.StepsPerEpoch,
        ["total_steps"] = plan.TotalSteps,
        ["rounds"] = plan.Rounds.Count,
        ["pairing"] = plan.Mixing.Pairing.Name(),
    }.ToJsonString();

    public static string RoundLine(RoundPlan round)
    {
        var line = new JsonObject
        {
            ["type"] = "round",
            ["round"] = round.Round,
            ["first_step"] = round.FirstStep,
            ["steps"] = round.Steps,
            ["epoch"] = round.Epoch,
            ["ends_epoch"] = round.EndsEpoch,
            ["mix"] = round.Mix.Kind,
        };
        switch (round.Mix)
        {
            case PushTowardMean push:
                line["keep"] = push.Keep;
                break;
            case ReplaceWithChildren children:
                line["parents"] = new JsonArray(children.Parents.Select(p => (JsonNode)new JsonArray(p.First, p.Second)).ToArray());
                break;
        }
        return line.ToJsonString();
    }

    public static string ResetLine(int round, IReadOnlyList<int> members, string reason) => new JsonObject
    {
        ["type"] = "reset",
        ["round"] = round,
        ["members"] = new JsonArray(members.Select(m => (JsonNode)m).ToArray()),
        ["reason"] = reason,
    }.ToJsonString();

    public static string EndLine(int rounds) => new JsonObject { ["type"] = "end", ["rounds"] = rounds }.ToJsonString();

    public static string FailedLine(string reason) => new JsonObject { ["type"] = "failed", ["reason"] = reason }.ToJsonString();

    /// <summary>Reads a journal; a malformed, truncated or unknown line is a <see cref="JournalException"/> naming its line number.</summary>
    public static Content Read(string path)
    {
        if (!File.Exists(path))
            throw new JournalException($"{path}: no schedule journal here");
        if (FileKind.Problem(path, followLinks: true) is { } problem)
            throw new JournalException($"{path}: {problem}");
        return Parse(path, File.ReadAllLines(path));
    }

    /// <summary>The journal whose <paramref name="lines"/> were read from <paramref name="path"/> (for messages), as <see cref="Read"/>.</summary>
    public static Content Parse(string path, IReadOnlyList<string> lines)
    {
        if (lines.Count == 0)
            throw new JournalException($"{path}: the journal is empty");
        Header? header = null;
        var rounds = new List<RoundPlan>();
        var ended = false;
        string? failure = null;
        var resets = new List<MemberReset>();
        for (var i = 0; i < lines.Count; i++)
        {
            var where = $"{path}, line {i + 1}";
            if (ended)
                throw new JournalException($"{where}: content after the end line");
            JsonObject line;
            try
            {
                line = JsonNode.Parse(lines[i]) as JsonObject ?? throw new JournalException($"{where}: not a JSON object");
            }
            catch (JsonException e)
            {
                throw new JournalException($"{where}: not valid JSON, the line is truncated or edited ({e.Message})");
            }
            var type = Get<string>(line, "type", where);
            if (i == 0 && type != "header")
                throw new JournalException($"{where}: the first line must be the header, found '{type}'");
            switch (type)
            {
                case "header":
                    if (i != 0)
                        throw new JournalException($"{where}: a second header");
                    header = ReadHeader(line, where);
                    break;
                case "round":
                    var round = ReadRound(line, where);
                    if (round.Round != rounds.Count)
                        throw new JournalException($"{where}: round {round.Round} where round {rounds.Count} was expected");
                    rounds.Add(round);
                    break;
                case "end":
                    if (Get<int>(line, "rounds", where) != rounds.Count)
                        throw new JournalException($"{where}: the end line counts {Get<int>(line, "rounds", where)} rounds, the journal has {rounds.Count}");
                    ended = true;
                    break;
                case "failed":
                    failure = Get<string>(line, "reason", where);
                    break;
                case "reset":
                    var members = line["members"] as JsonArray ?? throw new JournalException($"{where}: 'members' is missing");
                    resets.Add(new MemberReset(Get<int>(line, "round", where), members.Select(m => m!.GetValue<int>()).ToList()));
                    break;
                default:
                    throw new JournalException($"{where}: unknown event type '{type}'");
            }
        }
        return new Content(header!, rounds, ended, failure, resets);
    }

    private static Header ReadHeader(JsonObject line, string where)
    {
        var format = Get<string>(line, "format", where);
        var version = Get<int>(line, "version", where);
        if (format != Format || version != Version)
            throw new JournalException($"{where}: journal format {format} v{version}; this build reads {Format} v{Version}");
        return new Header(Get<string>(line, "method", where), Get<int>(line, "population", where), Get<long>(line, "seed", where),
            Get<long>(line, "steps_per_epoch", where), Get<long>(line, "total_steps", where), Get<int>(line, "rounds", where),
            line.ContainsKey("pairing") ? Get<string>(line, "pairing", where) : Papa2Pairing.Cycle.Name());
    }

    private static RoundPlan ReadRound(JsonObject line, string where)
    {
        var kind = Get<string>(line, "mix", where);
        MixDecision mix = kind switch
        {
            "none" => NoMix.Instance,
            "push" => new PushTowardMean(Get<double>(line, "keep", where)),
            "mean" => ReplaceWithMean.Instance,
            "children" => new ReplaceWithChildren(ReadParents(line, where)),
            _ => throw new JournalException($"{where}: unknown mix '{kind}'"),
        };
        return new RoundPlan(Get<int>(line, "round", where), Get<long>(line, "first_step", where), Get<int>(line, "steps", where),
            Get<int>(line, "epoch", where), Get<bool>(line, "ends_epoch", where), mix);
    }

    private static List<ParentPair> ReadParents(JsonObject line, string where)
    {
        if (line["parents"] is not JsonArray parents)
            throw new JournalException($"{where}: 'parents' is missing");
        return parents.Select(p => p is JsonArray { Count: 2 } pair
                ? new ParentPair(pair[0]!.GetValue<int>(), pair[1]!.GetValue<int>())
                : throw new JournalException($"{where}: each parent entry must be a pair [a, b]"))
            .ToList();
    }

    private static T Get<T>(JsonObject line, string key, string where)
    {
        try
        {
            return line[key] is { } node ? node.GetValue<T>() : throw new JournalException($"{where}: '{key}' is missing");
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new JournalException($"{where}: '{key}' is not a {typeof(T).Name}");
        }
    }
}

/// <summary>A journal that cannot be read or does not match; the message names the file and line.</summary>
public sealed class JournalException(string message) : Exception(message);
