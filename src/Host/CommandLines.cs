namespace PapaActors.Host;

/// <summary>The `papa` command lines a user is told to run; only the Host renders them, the actors send what they need.</summary>
public static class CommandLines
{
    public static string Resume(string folder) => $"./papa resume {folder}";

    public static string ResumeAverager(string folder) => $"./papa node --role averager --resume {folder}";

    public static string MemberNode(string seedNode, string members) => $"./papa node --role member --seed-node {seedNode} --members {members}";
}
