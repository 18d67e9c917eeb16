using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Checkpoints;

/// <summary>
/// What manifest.json records: the checkpoint's counters, its identity, and per member the step, the layouts
/// (so loading needs no model) and every file with its size and SHA-256 (so damage is found before loading);
/// last the SHA-256 of all that (so a damaged or edited manifest is found too).
/// </summary>
public sealed record CheckpointManifest(
    int Round,
    long Samples,
    double TrainingSeconds,
    long JournalBytes,
    long MetricsBytes,
    CheckpointIdentity Identity,
    IReadOnlyList<MemberManifest> Members)
{
    public const string Format = "papa-checkpoint";
    public const int Version = 2;

    /// <summary>The key of the SHA-256 over the manifest without it, written compactly (<see cref="BodyHash"/>).</summary>
    public const string HashKey = "manifest_sha256";

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public IEnumerable<StoredFile> Files =>
        Members.SelectMany(m => new[] { m.Weights.File, m.Optimizer.File }).OfType<StoredFile>();

    public byte[] ToJson()
    {
        var json = new JsonObject
        {
            ["format"] = Format,
            ["version"] = Version,
            ["round"] = Round,
            ["samples"] = Samples,
            ["training_seconds"] = TrainingSeconds,
            ["journal_bytes"] = JournalBytes,
            ["metrics_bytes"] = MetricsBytes,
            ["identity"] = new JsonObject
            {
                ["config_fingerprint"] = Identity.ConfigFingerprint,
                ["code_version"] = Identity.CodeVersion,
            },
            ["members"] = new JsonArray(Members.Select(m => (JsonNode)new JsonObject
            {
                ["member"] = m.Member,
                ["step"] = m.Step,
                ["weights"] = m.Weights.ToJson(),
                ["optimizer"] = m.Optimizer.ToJson(),
            }).ToArray()),
        };
        json[HashKey] = BodyHash(json);
        return Encoding.UTF8.GetBytes(json.ToJsonString(Indented));
    }

    private static string BodyHash(JsonObject body) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(body.ToJsonString())));

    /// <summary>Reads manifest.json; anything missing, mistyped or of another format is a <see cref="FormatException"/>.</summary>
    public static CheckpointManifest Parse(byte[] utf8)
    {
        JsonNode? json;
        try
        {
            json = JsonNode.Parse(utf8);
        }
        catch (JsonException e)
        {
            throw new FormatException($"not valid JSON ({e.Message})");
        }
        var (format, version) = (Get<string>(json, "format"), Get<int>(json, "version"));
        if (format != Format || version != Version)
            throw new FormatException($"format '{format}' version {version}, this build reads '{Format}' version {Version}");
        var body = (JsonObject)json!;
        var hash = Get<string>(body, HashKey);
        body.Remove(HashKey);
        if (hash != BodyHash(body))
            throw new FormatException($"it does not match its own SHA-256 ({HashKey}): the manifest was edited or damaged");
        var identity = body["identity"];
        return new CheckpointManifest(
            Get<int>(json, "round"),
            Get<long>(json, "samples"),
            Get<double>(json, "training_seconds"),
            Get<long>(json, "journal_bytes"),
            Get<long>(json, "metrics_bytes"),
            new CheckpointIdentity(Get<string>(identity, "config_fingerprint"), Get<string>(identity, "code_version")),
            Array(json, "members").Select(m => new MemberManifest(
                Get<int>(m, "member"),
                Get<long>(m, "step"),
                StoredTensors.Parse(m!["weights"]),
                StoredTensors.Parse(m["optimizer"]))).ToList());
    }

    internal static T Get<T>(JsonNode? node, string key) =>
        node?[key] is JsonValue value && value.TryGetValue<T>(out var result) && result is not null
            ? result
            : throw new FormatException($"'{key}' is missing or not a {typeof(T).Name}");

    internal static JsonArray Array(JsonNode? node, string key) =>
        node?[key] as JsonArray ?? throw new FormatException($"'{key}' is missing or not a list");
}

public sealed record MemberManifest(int Member, long Step, StoredTensors Weights, StoredTensors Optimizer);

/// <summary>A snapshot on disk: its layout, and its file (none for an empty layout, such as a fresh optimizer).</summary>
public sealed record StoredTensors(WeightLayout Layout, StoredFile? File)
{
    internal JsonObject ToJson() => new()
    {
        ["file"] = File?.Name,
        ["bytes"] = File?.Bytes,
        ["sha256"] = File?.Sha256,
        ["layout"] = new JsonArray(Layout.Entries.Select(e => (JsonNode)new JsonObject
        {
            ["name"] = e.Name,
            ["kind"] = e.Kind.ToString(),
            ["shape"] = new JsonArray(e.Shape.Select(d => (JsonNode)d).ToArray()),
        }).ToArray()),
    };

    internal static StoredTensors Parse(JsonNode? json)
    {
        var layout = new WeightLayout(CheckpointManifest.Array(json, "layout").Select(e => new WeightEntry(
            CheckpointManifest.Get<string>(e, "name"),
            [.. CheckpointManifest.Array(e, "shape").Select(Dimension)],
            Enum.TryParse<WeightKind>(CheckpointManifest.Get<string>(e, "kind"), out var kind) && Enum.IsDefined(kind)
                ? kind
                : throw new FormatException($"unknown kind '{e!["kind"]}'"))).ToList());
        // Loading allocates a float array of the whole layout: refuse, before anything is allocated, what none could hold.
        var elements = layout.Entries.Aggregate(BigInteger.Zero, (sum, e) => sum + e.Shape.Aggregate(BigInteger.One, (a, d) => a * d));
        if (elements > System.Array.MaxLength)
            throw new FormatException($"a layout of {elements} values is larger than any snapshot can be");
        if (json!["file"] is null)
            return layout.Entries.Count == 0 ? new StoredTensors(layout, null) : throw new FormatException("a non-empty layout has no file");
        var name = CheckpointManifest.Get<string>(json, "file");
        // Only plain names: a manifest must not point outside its own folder.
        if (name != Path.GetFileName(name) || name is "" or "." or "..")
            throw new FormatException($"file name '{name}' is not a plain file name");
        return new StoredTensors(layout, new StoredFile(name, CheckpointManifest.Get<long>(json, "bytes"), CheckpointManifest.Get<string>(json, "sha256")));
    }

    private static long Dimension(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue<long>(out var d) && d >= 0 ? d : throw new FormatException($"a shape holds '{node?.ToJsonString()}', not a dimension");
}

public sealed record StoredFile(string Name, long Bytes, string Sha256);
