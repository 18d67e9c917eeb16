using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace PapaActors.Tests.Support;

/// <summary>What a test reads from a run folder: its progress, and whether two runs ended the same, bit for bit.</summary>
public static class RunFolders
{
    /// <summary>Soups, journal, accuracies and per-round metrics (without timing) are identical.</summary>
    public static void AssertSameRun(string expected, string actual)
    {
        foreach (var file in new[] { "soup-average.safetensors", "soup-greedy.safetensors", "schedule.jsonl" })
            Assert.True(Sha256(Path.Combine(expected, file)) == Sha256(Path.Combine(actual, file)), $"{file} differs from the uninterrupted run");
        Assert.Equal(Accuracies(expected), Accuracies(actual));
        // Every round's losses and accuracies were written once, as uninterrupted (samples/s is timing).
        Assert.Equal(MetricsWithoutTiming(expected), MetricsWithoutTiming(actual));
    }

    /// <summary>Rounds in the journal so far (the file may be being written).</summary>
    public static int JournalRounds(string folder)
    {
        var journal = Path.Combine(folder, "schedule.jsonl");
        if (!File.Exists(journal))
            return 0;
        using var stream = new FileStream(journal, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Split('\n').Count(l => l.Contains("\"type\":\"round\""));
    }

    public static string Sha256(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    public static string Accuracies(string folder)
    {
        var results = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "results.json")))!;
        Assert.Equal("completed", (string)results["status"]!);
        return string.Join(";", results["members"]!.AsArray().Select(m => m!["test_accuracy"]!.ToJsonString())
            .Append(results["ensemble"]!.ToJsonString()).Append(results["average_soup"]!.ToJsonString()).Append(results["greedy_soup"]!.ToJsonString())
            .Append(results["training_samples"]!.ToJsonString()));
    }

    /// <summary>
    /// metrics.csv without its timing columns (samples_per_second and the wait, mix and averaging times): losses,
    /// held-out accuracies, the accuracies around mixes and the feature similarities.
    /// </summary>
    public static IReadOnlyList<string> MetricsWithoutTiming(string folder) =>
        File.ReadAllLines(Path.Combine(folder, "metrics.csv")).Select(l => l.Split(',')).Select(f => string.Join(',', f[..7].Concat(f[11..]))).ToList();
}
