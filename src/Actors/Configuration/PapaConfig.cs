using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;
using Akka.Configuration;
using Akka.Cluster;
using Akka.Cluster.Tools.Singleton;
using Akka.Configuration.Hocon;
using Akka.Remote;
using PapaActors.Models;

namespace PapaActors.Actors.Configuration;

/// <summary>
/// Loads run configuration: `--set` overrides, then the user's file, then the documented defaults
/// (hocon/reference.conf, embedded in this assembly). Every key under `papa` must exist in the defaults.
/// </summary>
public static class PapaConfig
{
    public const string Root = "papa";
    private static readonly string[] AllowedRoots = [Root, "akka"];

    public static Config Defaults { get; } = ConfigurationFactory.ParseString(ReadResource("PapaActors.reference.conf"));

    /// <summary>Akka settings shared by every ActorSystem of the project (hocon/akka.conf, embedded).</summary>
    public static Config AkkaDefaults { get; } = ConfigurationFactory.ParseString(ReadResource("PapaActors.akka.conf"));

    /// <summary>Akka.Cluster settings of cluster nodes (hocon/cluster.conf, embedded).</summary>
    public static Config ClusterDefaults { get; } = ConfigurationFactory.ParseString(ReadResource("PapaActors.cluster.conf"));

    public static Config Load(string? file, IEnumerable<string> overrides) => Load(file, overrides, text => text, followLinks: true);

    /// <summary>
    /// Loads the config.conf of a run folder, as <see cref="Render"/> wrote it (one `key = value` line per setting),
    /// possibly by an earlier version: a key since removed is carried over to its successor, or left out when it has
    /// none (such keys only set how messages travel, never what a run computes).
    /// </summary>
    public static Config LoadRecorded(string file) => Load(file, [], CarryOverRemovedKeys, followLinks: false);

    /// <param name="followLinks">A user's file may be a link to one; a run folder's config.conf is the file its run wrote.</param>
    private static Config Load(string? file, IEnumerable<string> overrides, Func<string, string> upgrade, bool followLinks)
    {
        var user = ConfigurationFactory.Empty;
        if (file is not null)
        {
            // Opening a FIFO would block and a device never ends: only a regular file is read.
            var kind = KindOf(file, followLinks);
            if (kind == FileKind.Kind.Missing)
                throw new ConfigException($"config file not found: {file}");
            if (kind != FileKind.Kind.Regular)
                throw new ConfigException($"{file}: {FileKind.Describe(kind)}, not a regular file; a config file must be one");
            user = Parse(upgrade(ReadText(file)), file);
        }
        foreach (var assignment in overrides)
            user = ParseOverride(assignment).WithFallback(user);
        Validate(user);
        return user.WithFallback(Defaults);
    }

    private static FileKind.Kind KindOf(string file, bool followLinks)
    {
        try
        {
            return FileKind.Of(file, followLinks);
        }
        catch (IOException e)
        {
            throw new ConfigException(e.Message, e);
        }
    }

    private static string ReadText(string file)
    {
        try
        {
            return File.ReadAllText(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException($"{file}: cannot be read ({e.Message})", e);
        }
    }

    /// <summary>Parses `key=value`; a value that is not a number, boolean, list or object is taken as a string.</summary>
    public static Config ParseOverride(string assignment)
    {
        var split = assignment.IndexOf('=');
        if (split <= 0)
            throw new ConfigException($"--set expects key=value, got '{Clip(assignment)}'");
        var key = assignment[..split].Trim();
        var value = assignment[(split + 1)..].Trim();
        if (!key.StartsWith(Root + ".", StringComparison.Ordinal) && !key.StartsWith("akka.", StringComparison.Ordinal))
            key = $"{Root}.{key}";
        var literal = IsLiteral(value) ? value : Quote(value);
        return Parse($"{key} = {literal}", $"--set {Clip(assignment)}");
    }

    private static bool IsLiteral(string value) =>
        value.StartsWith('[') || value.StartsWith('{') || value is "on" or "off" or "true" or "false" or "yes" or "no"
        || double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    private static Config Parse(string text, string source)
    {
        CheckStructure(text, source);
        try
        {
            // Every include the parser meets, however it is spaced, is refused here and its file never read.
            return ConfigurationFactory.ParseString(text, include =>
                throw new ConfigException($"{source}: `include {Quote(Clip(include))}` is not supported; copy the keys into this file or pass them with --set"));
        }
        catch (Exception e) when (e is FormatException or ConfigurationException)
        {
            throw new ConfigException($"{source}: not valid HOCON ({Clip(e.Message.Split('\n')[0].Trim())})", e);
        }
    }

    /// <summary>Deeper nesting than this (braces, brackets or dots in one key) is refused before Akka's recursive parser overflows its stack.</summary>
    public const int MaxDepth = 32;

    // Quoted strings ("""...""" or "...") and comments (# or // to the end of the line): no structure inside them.
    private static readonly Regex StringsAndComments = new(@"""""""[\s\S]*?""""""|""(?:\\.|[^""\\\n])*""|(?:#|//)[^\n]*");
    private static readonly Regex Substitution = new(@"\$\{");

    /// <summary>
    /// Refuses, before Akka's HOCON parser sees the text, what it gets wrong: substitutions `${...}` (it resolves them
    /// while parsing, where a self-referencing one overflows its stack and kills the process), nesting deeper than
    /// <see cref="MaxDepth"/>, braces or brackets that do not balance (it silently ignores a trailing `}}}`), and a
    /// `key = value` or `key: value` directly inside an array, on which it loops forever (Akka 1.5: `x = [a = 1]`).
    /// Includes are refused by the parser itself (<see cref="Parse"/>).
    /// </summary>
    private static void CheckStructure(string text, string source)
    {
        string At(int index) => $"{source}: line {text.AsSpan(0, index).Count('\n') + 1}";
        // Blanked out, strings and comments keep their line breaks, so indices and line numbers still match the text.
        var code = StringsAndComments.Replace(text, m => Regex.Replace(m.Value, "[^\n]", " "));
        var substitution = Substitution.Match(code);
        if (substitution.Success)
            throw new ConfigException($"{At(substitution.Index)}: substitutions (${{...}}) are not supported; write the value itself");
        var open = new Stack<int>();
        var dots = 0; // in the key or value at i: each is a level of objects
        for (var i = 0; i < code.Length; i++)
        {
            if (code[i] == '.' && ++dots > MaxDepth)
                throw new ConfigException($"{At(i)}: a key nested deeper than {MaxDepth} levels");
            if (code[i] is '\n' or ',' or ':' or '=' or '{' or '}' or '[' or ']')
                dots = 0;
            if (code[i] is ':' or '=' && open.TryPeek(out var inside) && code[inside] == '[')
                throw new ConfigException($"{At(i)}: '{code[i]}' inside an array; an array holds values, or objects in braces");
            if (code[i] is '{' or '[')
            {
                open.Push(i);
                if (open.Count > MaxDepth)
                    throw new ConfigException($"{At(i)}: nested deeper than {MaxDepth} levels of braces and brackets");
            }
            else if (code[i] is '}' or ']' && (open.Count == 0 || code[open.Pop()] != (code[i] == '}' ? '{' : '[')))
                throw new ConfigException($"{At(i)}: unbalanced '{code[i]}'");
        }
        if (open.TryPeek(out var unclosed))
            throw new ConfigException($"{At(unclosed)}: '{code[unclosed]}' is never closed");
    }

    private const int ClipLength = 100;

    /// <summary>Text from outside as an error message quotes it: at most about 100 characters, so one bad value is one line.</summary>
    public static string Clip(string text) =>
        text.Length <= ClipLength ? text : $"{text[..ClipLength]}... ({text.Length} characters)";

    /// <summary>
    /// Rejects keys that the defaults (for `akka`: Akka's own reference configs) do not have, objects given where a
    /// value belongs (or the reverse), and empty objects, which set nothing.
    /// </summary>
    public static void Validate(Config user)
    {
        if (user.IsEmpty)
            return;
        foreach (var (path, value) in Leaves(user.Root, "", emptyObjects: true))
        {
            var root = path.Split('.')[0];
            if (!AllowedRoots.Contains(root))
                throw new ConfigException($"unknown key '{Clip(path)}': only keys under {string.Join(" and ", AllowedRoots)} are allowed");
            if (value.IsObject() && path == root) // `papa {}`: an empty section
                continue;
            // Deeper, {} sets nothing and hides a mistake; Akka's own reference configs have a few, which a whole
            // ActorSystem's config (as the TestKit gives) carries.
            if (value.IsObject() && !(root == "akka" && AkkaKeys.Value.Contains(path)))
                throw new ConfigException($"'{Clip(path)}' is an empty object: give its keys or leave it out");
            if (RemovedKeys.TryGetValue(path, out var removed))
                throw new ConfigException($"'{path}' was removed: {removed.Replacement}");
            if (root == Root && (!Defaults.HasPath(path) || Defaults.GetValue(path).IsObject()))
                throw new ConfigException($"unknown key '{Clip(path)}'{Suggestion(path)}");
            if (root == "akka" && !IsAkkaKey(path))
                throw new ConfigException($"unknown key '{Clip(path)}': Akka has no such setting (did you mean '{Closest(path, AkkaKeys.Value)}'?)");
        }
    }

    /// <summary>A key an earlier version had: what replaced it (a config that sets it is refused with this), and its successor key, if any.</summary>
    private sealed record RemovedKey(string Replacement, string? Successor = null);

    private static readonly Dictionary<string, RemovedKey> RemovedKeys = new()
    {
        ["papa.transfer.path"] = new("a message above papa.transfer.stream-above always takes the stream connection (the chunk path is gone); delete the key"),
        ["papa.transfer.chunk-bytes"] = new("it is now 'papa.transfer.stream-above', the size above which a message takes the stream connection",
            "papa.transfer.stream-above"),
    };

    private static string CarryOverRemovedKeys(string rendered) => string.Join('\n', rendered.Split('\n').SelectMany(CarryOver));

    /// <summary>A rendered line `key = value`; when its key was removed, the line under its successor's name, or none.</summary>
    private static IEnumerable<string> CarryOver(string line)
    {
        var parts = line.Split('=', 2);
        if (!RemovedKeys.TryGetValue(parts[0].Trim(), out var removed))
            return [line];
        return removed.Successor is { } successor ? [$"{successor} ={parts[1]}"] : [];
    }

    /// <summary>Every setting (and empty object) of Akka's reference configs (embedded in its assemblies) for the modules this project runs, and of hocon/akka.conf and hocon/cluster.conf.</summary>
    private static readonly Lazy<HashSet<string>> AkkaKeys = new(() =>
        new[]
        {
            ConfigurationFactory.Default(), ConfigurationFactory.FromResource<RemoteSettings>("Akka.Remote.Configuration.Remote.conf"),
            ConfigurationFactory.FromResource<ClusterSettings>("Akka.Cluster.Configuration.Cluster.conf"), ClusterSingleton.DefaultConfig(),
            AkkaDefaults, ClusterDefaults,
        }.SelectMany(c => Leaves(c.GetValue("akka"), "akka", emptyObjects: true)).Select(leaf => leaf.Path).ToHashSet());

    /// <summary>Akka sections whose keys are names the user chooses (serializers, deployed actor paths, cluster roles).</summary>
    private static readonly string[] AkkaMaps =
    [
        "akka.actor.serializers.", "akka.actor.serialization-bindings.", "akka.actor.serialization-identifiers.",
        "akka.actor.serialization-settings.", "akka.actor.deployment.", "akka.cluster.role.",
    ];

    private static bool IsAkkaKey(string path) =>
        AkkaKeys.Value.Contains(path) || AkkaMaps.Any(map => path.StartsWith(map, StringComparison.Ordinal));

    private static string Suggestion(string path)
    {
        var known = Leaves(Defaults.Root, "").Select(l => l.Path).ToList();
        var parent = path[..Math.Max(0, path.LastIndexOf('.'))];
        var siblings = known.Where(k => k.StartsWith(parent + ".", StringComparison.Ordinal) && k[(parent.Length + 1)..].IndexOf('.') < 0);
        return $" (did you mean '{Closest(path, known)}'? keys of {Clip(parent)}: {string.Join(", ", siblings.Select(s => s[(parent.Length + 1)..]))})";
    }

    /// <summary>The known key nearest to <paramref name="path"/> (compared clipped, so a huge key costs no more than a short one).</summary>
    private static string Closest(string path, IEnumerable<string> known) => known.MinBy(k => Distance(k, Clip(path)))!;

    private static int Distance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var previous = row[0];
            row[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var current = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), previous + (a[i - 1] == b[j - 1] ? 0 : 1));
                previous = current;
            }
        }
        return row[b.Length];
    }

    /// <param name="emptyObjects">Also yield empty objects, which hold no leaf.</param>
    private static IEnumerable<(string Path, HoconValue Value)> Leaves(HoconValue value, string path, bool emptyObjects = false)
    {
        if (!value.IsObject() || (emptyObjects && value.GetObject().Items.Count == 0))
        {
            yield return (path, value);
            yield break;
        }
        foreach (var (key, child) in value.GetObject().Items)
            foreach (var leaf in Leaves(child, path.Length == 0 ? key : $"{path}.{key}", emptyObjects))
                yield return leaf;
    }

    /// <summary>
    /// Renders the resolved `papa` section, and the `akka` keys the user gave (a resumed run keeps its node
    /// settings, such as a quicker failure detector), as HOCON that parses back to the same settings. Every
    /// leaf is written as a JSON string (Akka's HOCON reads numbers and booleans from strings too), so paths
    /// and other text never need HOCON's unquoted-string rules.
    /// </summary>
    public static string Render(Config config)
    {
        var text = new StringBuilder();
        var akka = config.HasPath("akka") ? Leaves(config.GetValue("akka"), "akka") : [];
        foreach (var (path, value) in Leaves(config.GetValue(Root), Root).Concat(akka))
        {
            var rendered = value.IsArray()
                ? "[" + string.Join(", ", value.GetArray().Select(v => Quote(v.GetString()))) + "]"
                : Quote(value.GetString());
            text.Append(path).Append(" = ").AppendLine(rendered);
        }
        return text.ToString();
    }

    /// <summary>Every `papa` key with its resolved value as text (a list as `[a, b]`), in the order of hocon/reference.conf.</summary>
    public static IEnumerable<(string Key, string Value)> Values(Config config) =>
        Leaves(Defaults.GetValue(Root), Root).Select(leaf => (leaf.Path, TextOf(config.GetValue(leaf.Path))));

    private static string TextOf(HoconValue value) =>
        value.IsArray() ? "[" + string.Join(", ", value.GetArray().Select(v => v.GetString())) + "]" : value.GetString();

    private static readonly JsonSerializerOptions QuoteOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    internal static string Quote(string text) => JsonSerializer.Serialize(text, QuoteOptions);

    private static string ReadResource(string name)
    {
        using var stream = typeof(PapaConfig).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"embedded resource {name} is missing from the build");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
